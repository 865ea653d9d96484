// Runs this repository as an installed extension in code-server (VS Code's server, workbench and
// extension host, installed from npm by ensure-test-deps.cjs). Used by the end-to-end tests and by
// `npm run demo`. The repo's dist/ must be built first. Recipe: docs/real-vscode-host.md.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const deps = require('./ensure-test-deps.cjs') as { ensureChromium(): string; ensureCodeServer(): string };
export const ensureChromium = deps.ensureChromium;

const REPO = path.resolve(__dirname, '..');

// Keeps first-run UI (welcome page, trust prompt, tips, telemetry notice) from covering the workbench.
const QUIET_SETTINGS = {
  'workbench.startupEditor': 'none',
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'workbench.tips.enabled': false,
  'security.workspace.trust.enabled': false,
  'telemetry.telemetryLevel': 'off',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'update.mode': 'none',
  'git.enabled': false,
};

export interface CodeServer {
  /** http://127.0.0.1:<port> */
  origin: string;
  /** The workbench with the workspace folder open. */
  url: string;
  logFile: string;
  /** The last `lines` (default 25) lines code-server wrote (for error messages). */
  logTail(lines?: number): string;
  /** Stops code-server and everything it spawned (extension host, engine); safe to call twice. */
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** code-server cannot bind port 0, so ask the OS for a free port and release it just before. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

const httpAnswers = (url: string) =>
  new Promise<boolean>((resolve) => {
    const req = http.get(url, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('error', () => resolve(false));
    req.setTimeout(2000, () => req.destroy());
  });

/**
 * Starts code-server on loopback with this repository installed as an extension, fresh user data
 * in `dir` (settings merged over quiet defaults), `workspace` open and `env` added to its environment;
 * resolves once it answers HTTP.
 */
export async function launchCodeServer(opts: { dir: string; workspace: string; settings?: Record<string, unknown>; env?: NodeJS.ProcessEnv; port?: number }): Promise<CodeServer> {
  const logFile = path.join(opts.dir, 'code-server.log');
  const logTail = (lines = 25) => {
    try {
      return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  };
  const fail = (what: string): never => {
    throw new Error(`${what}\n--- last lines of ${logFile}:\n${logTail()}`);
  };
  let entry: string;
  try {
    entry = deps.ensureCodeServer();
  } catch (e) {
    throw new Error(`code-server could not be installed, so VS Code cannot run: ${(e as Error).message}`);
  }

  // This repository, installed as-is: code-server scans <publisher>.<name>-<version> folders.
  const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { publisher: string; name: string; version: string };
  const extensionsDir = path.join(opts.dir, 'extensions');
  const userDataDir = path.join(opts.dir, 'user-data');
  mkdirSync(extensionsDir, { recursive: true });
  mkdirSync(path.join(userDataDir, 'User'), { recursive: true });
  // VS Code puts its IPC sockets (vscode-ipc-*.sock) and other scratch files in TMPDIR and never
  // removes them: inside the session folder they go with it. (A socket path must stay under 108 bytes.)
  const tmp = path.join(opts.dir, 'tmp');
  mkdirSync(tmp);
  symlinkSync(REPO, path.join(extensionsDir, `${pkg.publisher}.${pkg.name}-${pkg.version}`), 'dir');
  writeFileSync(path.join(userDataDir, 'User', 'settings.json'), JSON.stringify({ ...QUIET_SETTINGS, ...opts.settings }, null, 2));

  const port = opts.port ?? (await freePort());
  const origin = `http://127.0.0.1:${port}`;
  const log = openSync(logFile, 'a');
  const child: ChildProcess = spawn(
    process.execPath,
    [entry, '--bind-addr', `127.0.0.1:${port}`, '--auth', 'none', '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust',
      '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir, opts.workspace],
    // Own process group, so close() can stop all of it; `env` reaches the extension host and the engine.
    { detached: true, stdio: ['ignore', log, log], env: { ...process.env, TMPDIR: tmp, ...opts.env } },
  );
  closeSync(log);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    const pid = child.pid;
    if (pid === undefined) return;
    // The extension host, pty host and file watcher are code-server's children: signal the group.
    const kill = (sig: NodeJS.Signals) => {
      try {
        process.kill(-pid, sig);
      } catch {
        /* the group is gone */
      }
    };
    kill('SIGTERM');
    const stopped = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(r, 5000, false).unref())]);
    kill('SIGKILL'); // whatever outlived code-server's own shutdown
    if (!stopped) await exited;
  };
  try {
    for (const started = Date.now(); !(await httpAnswers(`${origin}/`)); await sleep(250)) {
      if (child.exitCode !== null || child.signalCode !== null) fail(`code-server exited (${child.exitCode ?? child.signalCode}) before answering on ${origin}`);
      if (Date.now() - started > 60_000) fail(`code-server did not answer on ${origin} within 60 s`);
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { origin, url: `${origin}/?folder=${encodeURIComponent(opts.workspace)}`, logFile, logTail, close };
}
