// Entry point of the engine child process (dist/engine.js), forked by the extension host.
import { createHandlers } from './handlers';
import { ipcTransport, serve } from './server';

// A crash must be visible to the host: say why over IPC, then exit non-zero (the host offers a restart).
function fatal(e: unknown): void {
  const message = `engine crashed: ${(e as Error)?.stack ?? String(e)}`;
  const exit = () => process.exit(70);
  setTimeout(exit, 1000).unref();
  if (process.connected) process.send!({ kind: 'log', level: 'error', message }, exit);
  else exit();
}
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);
// The host going away (window closed, host crashed) ends the engine too.
process.on('disconnect', () => process.exit(0));
serve(createHandlers(), ipcTransport());
