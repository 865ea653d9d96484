// A real VS Code for end-to-end tests: code-server (VS Code's server, workbench and extension host,
// installed from npm by scripts/ensure-test-deps.cjs) runs this repository as an installed extension,
// and playwright-core drives its workbench in Debian's Chromium. Recipe and timings:
// ../shared/docs/real-vscode-host.md. The repo's dist/ must be built first (`npm test` does).
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { type Browser, chromium, type Frame, type Locator, type Page } from 'playwright-core';
import { REPO, tempDir } from './paths';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const deps = require('../../scripts/ensure-test-deps.cjs') as { ensureChromium(): string; ensureCodeServer(): string };

export interface VsCodeSession {
  page: Page;
  /** The session's folder: user data, extensions and code-server.log. */
  dir: string;
  /** Runs a command from the palette by its full title, e.g. `Refusal Lens: Show Log`. */
  runCommand(title: string): Promise<void>;
  /** Opens a workspace file (path relative to the workspace) and waits for its editor tab. */
  openFile(relPath: string): Promise<void>;
  /** The first element matching `selector` in any webview; webviews are iframes nested in iframes. */
  findInWebviews(selector: string, timeoutMs?: number): Promise<{ frame: Frame; locator: Locator }>;
  /** Texts of the notification toasts on screen. */
  notifications(): Promise<string[]>;
  /** Saves `.test-artifacts/<name>.png` in the repo and returns its path. */
  screenshot(name: string): Promise<string>;
  /** Closes the browser and stops code-server with everything it spawned; safe to call twice. */
  close(): Promise<void>;
}

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

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

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

export async function startVsCode(opts: { workspace: string; settings?: Record<string, unknown> }): Promise<VsCodeSession> {
  const dir = tempDir('vscode');
  const logFile = path.join(dir, 'code-server.log');
  const logTail = () => {
    try {
      return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-25).join('\n');
    } catch {
      return '(no log)';
    }
  };
  const fail = (what: string, cause?: unknown): never => {
    throw new Error(`${what}${cause ? `: ${(cause as Error).message ?? cause}` : ''}\n--- last lines of ${logFile}:\n${logTail()}`);
  };

  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let browser: Browser | undefined;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await browser?.close().catch(() => {});
    const pid = child?.pid;
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
    // The timer is unref'd so that a quick exit does not leave the process waiting for it (the
    // child's own handle keeps the process alive until code-server is gone).
    const stopped = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(r, 5000, false).unref())]);
    kill('SIGKILL'); // whatever outlived code-server's own shutdown
    if (!stopped) await exited;
  };

  try {
    let entry: string;
    try {
      entry = deps.ensureCodeServer();
    } catch (e) {
      throw new Error(`code-server could not be installed, so VS Code cannot run: ${(e as Error).message}`);
    }

    // This repository, installed as-is: code-server scans <publisher>.<name>-<version> folders.
    const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { publisher: string; name: string; version: string };
    const extensionsDir = path.join(dir, 'extensions');
    const userDataDir = path.join(dir, 'user-data');
    mkdirSync(extensionsDir);
    mkdirSync(path.join(userDataDir, 'User'), { recursive: true });
    symlinkSync(REPO, path.join(extensionsDir, `${pkg.publisher}.${pkg.name}-${pkg.version}`), 'dir');
    writeFileSync(path.join(userDataDir, 'User', 'settings.json'), JSON.stringify({ ...QUIET_SETTINGS, ...opts.settings }, null, 2));

    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    const log = openSync(logFile, 'a');
    child = spawn(
      process.execPath,
      [entry, '--bind-addr', `127.0.0.1:${port}`, '--auth', 'none', '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust',
        '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir, opts.workspace],
      { detached: true, stdio: ['ignore', log, log] }, // own process group, so close() can stop all of it
    );
    closeSync(log);
    const proc = child;
    exited = new Promise((r) => proc.once('exit', () => r()));

    for (const started = Date.now(); !(await httpAnswers(`${origin}/`)); await sleep(250)) {
      if (proc.exitCode !== null || proc.signalCode !== null) fail(`code-server exited (${proc.exitCode ?? proc.signalCode}) before answering on ${origin}`);
      if (Date.now() - started > 60_000) fail(`code-server did not answer on ${origin} within 60 s`);
    }

    browser = await chromium.launch({ executablePath: deps.ensureChromium(), args: CHROMIUM_ARGS });
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${origin}/?folder=${encodeURIComponent(opts.workspace)}`).catch((e) => fail('the workbench page did not load', e));
    await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 }).catch((e) => fail('the VS Code workbench did not appear', e));

    const quickInput = page.locator('.quick-input-widget .quick-input-box input');
    // Opens a quick input with `key`, types `text` and accepts with Enter once the highlighted row
    // shows `label`. The palette lists only commands known when it opened, and an extension's
    // commands arrive a moment after the workbench, so an unmatched palette is closed and reopened.
    const pick = async (key: string, text: string, label: string) => {
      const row = page.locator('.quick-input-widget .monaco-list-row.focused').filter({ hasText: label });
      for (const started = Date.now(); ; ) {
        await page.keyboard.press(key);
        await quickInput.waitFor({ state: 'visible' });
        await quickInput.fill(text);
        if (await row.waitFor({ state: 'visible', timeout: 3000 }).then(() => true, () => false)) break;
        if (Date.now() - started > 30_000) fail(`the quick pick offered no "${label}" for "${text}" within 30 s`);
        await page.keyboard.press('Escape');
      }
      await page.keyboard.press('Enter');
      // Gone when the palette closes, and also when the command opens a quick pick of its own.
      await row.waitFor({ state: 'hidden' });
    };

    return {
      page,
      dir,
      close,
      // F1 opens the palette with its '>' prefix; fill() replaces that, so it is typed back.
      runCommand: (title) => pick('F1', `>${title}`, title),
      async openFile(relPath) {
        await pick('Control+P', relPath, path.basename(relPath));
        await page.locator(`.tabs-container .tab[data-resource-name="${path.basename(relPath)}"]`).waitFor({ timeout: 15_000 });
      },
      async findInWebviews(selector, timeoutMs = 30_000) {
        for (const started = Date.now(); Date.now() - started < timeoutMs; await sleep(250)) {
          for (const frame of page.frames().filter((f) => f !== page.mainFrame())) {
            const locator = frame.locator(selector).first();
            if (await locator.count().catch(() => 0)) return { frame, locator };
          }
        }
        return fail(`no webview contained ${selector} within ${timeoutMs} ms`);
      },
      notifications: () => page.locator('.notifications-toasts .notification-list-item-message').filter({ visible: true }).allInnerTexts(),
      async screenshot(name) {
        const file = path.join(REPO, '.test-artifacts', `${name}.png`);
        mkdirSync(path.dirname(file), { recursive: true });
        await page.screenshot({ path: file });
        return file;
      },
    };
  } catch (e) {
    await close();
    throw e;
  }
}
