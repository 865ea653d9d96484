// Webview bundles in a real headless Chromium (Debian's, driven by playwright-core): a loopback
// server serves the very page the extension builds (same CSP and nonce rules) plus a stand-in for
// VS Code's acquireVsCodeApi that records what the panel posts. That stand-in is the only fake:
// VS Code's webview host itself cannot run here, the extension-host tests cover the real one.
import { mkdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { webviewHtml } from '../../src/host/webviewHtml';
import { REPO } from './paths';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ensureChromium } = require('../../scripts/ensure-test-deps.cjs') as { ensureChromium(): string };

/** VS Code's dark theme variables the panels use, so renders look like they do in the editor. */
const THEME = `:root { --vscode-font-family: sans-serif; --vscode-font-size: 13px; --vscode-foreground: #cccccc;
  --vscode-editor-background: #1e1e1e; --vscode-descriptionForeground: #9d9d9d; --vscode-charts-red: #f14c4c;
  --vscode-charts-blue: #3794ff; --vscode-focusBorder: #007fd4; --vscode-errorForeground: #f48771;
  --vscode-editor-font-family: monospace; --vscode-editorWidget-border: #454545;
  --vscode-disabledForeground: rgba(204, 204, 204, 0.5); }
body { background: #1e1e1e; }`;

const STUB = `window.__posted = []; window.__state = undefined;
window.acquireVsCodeApi = () => ({ postMessage: (m) => window.__posted.push(m), getState: () => window.__state, setState: (s) => { window.__state = s; } });`;

export interface PanelPage {
  page: Page;
  /** Messages the panel posted to the host. */
  posted(): Promise<unknown[]>;
  /** Delivers a message from the host to the panel. */
  send(message: unknown): Promise<void>;
  close(): Promise<void>;
}

let browser: Browser | undefined;

export async function openPanel(name: string, opts: { width?: number; height?: number } = {}): Promise<PanelPage> {
  browser ??= await chromium.launch({
    executablePath: ensureChromium(),
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const nonce = 'testnonce0123456789';
  const files: Record<string, [string, string]> = {
    [`/dist/webview/${name}.js`]: [path.join(REPO, 'dist', 'webview', `${name}.js`), 'text/javascript'],
    [`/media/${name}.css`]: [path.join(REPO, 'media', `${name}.css`), 'text/css'],
    '/media/common.css': [path.join(REPO, 'media', 'common.css'), 'text/css'],
  };
  const server = http.createServer((req, res) => {
    if (req.url === '/') {
      const html = webviewHtml({ title: name, cspSource: origin, scriptUri: `${origin}/dist/webview/${name}.js`, styleUris: [`${origin}/media/common.css`, `${origin}/media/${name}.css`], nonce })
        .replace('<link rel="stylesheet"', `<link rel="stylesheet" href="${origin}/theme.css"><link rel="stylesheet"`)
        .replace('<div id="root"></div>', `<div id="root"></div><script nonce="${nonce}" src="${origin}/stub.js"></script>`);
      res.writeHead(200, { 'content-type': 'text/html' }).end(html);
    } else if (req.url === '/stub.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(STUB);
    else if (req.url === '/theme.css') res.writeHead(200, { 'content-type': 'text/css' }).end(THEME);
    else if (files[req.url!]) res.writeHead(200, { 'content-type': files[req.url!][1] }).end(readFileSync(files[req.url!][0]));
    else if (req.url === '/favicon.ico') res.writeHead(204).end();
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const page = await browser.newPage({ viewport: { width: opts.width ?? 900, height: opts.height ?? 700 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto(origin);
  await page.waitForFunction(() => (window as unknown as { __posted: { type: string }[] }).__posted.some((m) => m.type === 'ready'));
  return {
    page,
    posted: () => page.evaluate(() => (window as unknown as { __posted: unknown[] }).__posted),
    send: (message) => page.evaluate((m) => window.postMessage(m, '*'), message),
    async close() {
      await page.close();
      server.close();
      if (errors.length) throw new Error(`the panel reported errors: ${errors.join('; ')}`);
    },
  };
}

/** Saves a screenshot as a test artifact (.test-artifacts/<name>.png) for reviewers. */
export async function screenshot(page: Page, name: string): Promise<string> {
  const file = path.join(REPO, '.test-artifacts', `${name}.png`);
  mkdirSync(path.dirname(file), { recursive: true });
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

export async function closeBrowser(): Promise<void> {
  await browser?.close();
  browser = undefined;
}

/**
 * One panel page for a whole suite: opened (then `ready` runs on it) before the suite's tests, and
 * closed with the browser after them. Returns the page's getter.
 */
export function suitePanel(name: string, opts: { width?: number; height?: number } = {}, ready: (p: PanelPage) => Promise<void> = async () => {}): () => PanelPage {
  let p: PanelPage | undefined;
  before(async () => {
    p = await openPanel(name, opts);
    await ready(p);
  });
  after(async () => {
    try {
      await p?.close();
    } finally {
      await closeBrowser();
    }
  });
  return () => p!;
}
