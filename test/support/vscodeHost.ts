// A real VS Code for end-to-end tests: code-server (VS Code's server, workbench and extension host,
// installed from npm by scripts/ensure-test-deps.cjs) runs this repository as an installed extension,
// and playwright-core drives its workbench in Debian's Chromium. Recipe and timings:
// docs/real-vscode-host.md. The repo's dist/ must be built first (`npm test` does).
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type Browser, chromium, type Frame, type Locator, type Page } from 'playwright-core';
import { ensureChromium, launchCodeServer } from '../../scripts/codeServer';
import { REPO, tempDir } from './paths';

export interface VsCodeSession {
  page: Page;
  /** The session's folder: user data, extensions and code-server.log. */
  dir: string;
  /** Runs a command from the palette by its full title, e.g. `Refusal Lens: Show Log`. */
  runCommand(title: string): Promise<void>;
  /** Whether the command palette lists a command of this full title now (its `when` clause holds). */
  paletteOffers(title: string): Promise<boolean>;
  /** Opens a workspace file (path relative to the workspace) and waits for its editor tab. */
  openFile(relPath: string): Promise<void>;
  /** The first element matching `selector` in any webview; webviews are iframes nested in iframes. */
  findInWebviews(selector: string, timeoutMs?: number): Promise<{ frame: Frame; locator: Locator }>;
  /** Texts of the notification toasts on screen. */
  notifications(): Promise<string[]>;
  /** The notification toasts whose text matches. */
  toast(text: RegExp): Locator;
  /** Waits for a matching toast; on timeout the error lists the notifications on screen and the extension's log. */
  waitForToast(text: RegExp, timeoutMs: number): Promise<Locator>;
  /** Saves `.test-artifacts/<name>.png` in the repo and returns its path. */
  screenshot(name: string): Promise<string>;
  /** Process ids of the engines (dist/engine.js) this session's extension host runs. */
  enginePids(): number[];
  /** Closes the browser and stops code-server with everything it spawned; safe to call twice. */
  close(): Promise<void>;
}

/**
 * Why the code-server harness cannot run here, or undefined on Linux: it finds engine processes
 * through /proc and installs its Debian packages with apt-get. Elsewhere the suites skip with this
 * message; the conventional runner (`npx vscode-test`, .vscode-test.mjs) covers those systems.
 */
export const HARNESS_SKIP =
  process.platform === 'linux' ? undefined : `the code-server harness is Linux-only (/proc, apt-get); on ${process.platform} run \`npm run build && npx vscode-test\` (see CONTRIBUTING.md)`;

/** Engine processes (dist/engine.js) descending from the code-server started for `sessionDir`, found through /proc. */
function enginePids(sessionDir: string): number[] {
  const procs = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .flatMap((d) => {
      try {
        const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').replaceAll('\0', ' ');
        const ppid = Number(readFileSync(`/proc/${d}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]);
        return [{ pid: Number(d), ppid, cmd }];
      } catch {
        return []; // gone meanwhile
      }
    });
  const ours = new Set(procs.filter((p) => p.cmd.includes(sessionDir)).map((p) => p.pid));
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of procs) if (!ours.has(p.pid) && ours.has(p.ppid)) grew = !!ours.add(p.pid);
  }
  return procs.filter((p) => ours.has(p.pid) && p.cmd.includes('dist/engine.js')).map((p) => p.pid);
}

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const notificationTexts = (page: Page) => page.locator('.notifications-toasts .notification-list-item-message').filter({ visible: true }).allInnerTexts();

export async function startVsCode(opts: { workspace: string; settings?: Record<string, unknown>; env?: NodeJS.ProcessEnv }): Promise<VsCodeSession> {
  const dir = tempDir('vscode');
  const server = await launchCodeServer({ dir, workspace: opts.workspace, settings: opts.settings, env: opts.env });
  const fail = (what: string, cause?: unknown): never => {
    throw new Error(`${what}${cause ? `: ${(cause as Error).message ?? cause}` : ''}\n--- last lines of ${server.logFile}:\n${server.logTail()}`);
  };
  let browser: Browser | undefined;
  let shown: Page | undefined;
  // What a user would have seen when a flow stalls: the notifications on screen and the extension's
  // own log (engine errors, dismissed prompts). Of code-server's log only the end (an extension
  // host that exited) matters here, and it goes first, so CI's tail of the output keeps the rest.
  const failWithContext = async (what: string): Promise<never> => {
    const toasts = shown ? await notificationTexts(shown).catch(() => []) : [];
    const logs = path.join(dir, 'user-data', 'logs');
    const extensionLog = readdirSync(logs, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith(path.join('refusal-lens.refusal-lens', 'Refusal Lens.log')))
      .map((f) => readFileSync(path.join(logs, f), 'utf8').trimEnd().split('\n').slice(-30).join('\n'))
      .join('\n');
    throw new Error(
      `${what}\n--- last lines of ${server.logFile}:\n${server.logTail(6)}\n--- notifications on screen: ${toasts.length ? toasts.map((t) => `\n  ${t}`).join('') : 'none'}` +
        `\n--- last lines of the extension's log:\n${extensionLog || '(none)'}`,
    );
  };
  const close = async () => {
    await browser?.close().catch(() => {});
    browser = undefined;
    await server.close();
  };

  try {
    browser = await chromium.launch({ executablePath: ensureChromium(), args: CHROMIUM_ARGS });
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    shown = page;
    await page.goto(server.url).catch((e) => fail('the workbench page did not load', e));
    await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 }).catch((e) => fail('the VS Code workbench did not appear', e));

    const toast = (text: RegExp) => page.locator('.notifications-toasts .notification-list-item').filter({ hasText: text });
    const quickInput = page.locator('.quick-input-widget .quick-input-box input');
    // Opens a quick input with `key`, types `text` and accepts with Enter once the highlighted row
    // shows `label`. The palette lists only commands known when it opened, and an extension's
    // commands arrive a moment after the workbench, so an unmatched palette is closed and reopened.
    // A key press can also be swallowed (focus inside a webview, a busy machine): then the editor
    // area is focused and the key pressed again.
    const visibleSoon = (l: Locator, timeout: number) => l.waitFor({ state: 'visible', timeout }).then(() => true, () => false);
    const pick = async (key: string, text: string, label: string) => {
      const row = page.locator('.quick-input-widget .monaco-list-row.focused').filter({ hasText: label });
      for (const started = Date.now(); ; ) {
        if (Date.now() - started > 60_000) fail(`the quick pick offered no "${label}" for "${text}" within 60 s`);
        await page.keyboard.press(key);
        if (!(await visibleSoon(quickInput, 5000))) {
          await page.locator('.part.editor').first().click({ position: { x: 5, y: 5 } }).catch(() => {});
          continue;
        }
        // The input can close again before it is filled (focus taken by a panel or a notification).
        if (!(await quickInput.fill(text, { timeout: 5000 }).then(() => true, () => false))) continue;
        if (await visibleSoon(row, 5000)) break;
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
      enginePids: () => enginePids(dir),
      // F1 opens the palette with its '>' prefix; fill() replaces that, so it is typed back.
      runCommand: (title) => pick('F1', `>${title}`, title),
      async paletteOffers(title) {
        for (let tries = 0; !(await visibleSoon(quickInput, 5000)); tries++) {
          if (tries === 5) fail('the command palette did not open');
          await page.locator('.part.editor').first().click({ position: { x: 5, y: 5 } }).catch(() => {});
          await page.keyboard.press('F1');
        }
        await quickInput.fill(`>${title}`);
        // The list filters as it is typed: give it a moment, then read every row's label.
        await sleep(1500);
        const rows = await page.locator('.quick-input-widget .monaco-list-row .label-name').allInnerTexts();
        await page.keyboard.press('Escape');
        return rows.some((r) => r.replace(/\s+/g, ' ').trim() === title);
      },
      async openFile(relPath) {
        await pick('Control+P', relPath, path.basename(relPath));
        // The file may already be open in another editor group (beside a panel): any of its tabs will do.
        await page.locator(`.tabs-container .tab[data-resource-name="${path.basename(relPath)}"]`).first().waitFor({ timeout: 15_000 });
      },
      async findInWebviews(selector, timeoutMs = 30_000) {
        for (const started = Date.now(); Date.now() - started < timeoutMs; await sleep(250)) {
          for (const frame of page.frames().filter((f) => f !== page.mainFrame())) {
            const locator = frame.locator(selector).first();
            if (await locator.count().catch(() => 0)) return { frame, locator };
          }
        }
        return failWithContext(`no webview contained ${selector} within ${timeoutMs} ms`);
      },
      notifications: () => notificationTexts(page),
      toast,
      async waitForToast(text, timeoutMs) {
        const found = toast(text).first();
        await found.waitFor({ timeout: timeoutMs }).catch(() => failWithContext(`no notification matched ${text} within ${timeoutMs} ms`));
        return found;
      },
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
