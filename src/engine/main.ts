// Entry point of the engine child process (dist/engine.js), forked by the extension host.
import { createHandlers } from './handlers';
import { exitOnFatalErrors, ipcTransport, serve } from './server';

exitOnFatalErrors();
const transport = ipcTransport();
serve(createHandlers(), transport);
transport.send({ kind: 'log', level: 'debug', message: `engine started (pid ${process.pid}, node ${process.version}, ${process.platform}-${process.arch})` });
