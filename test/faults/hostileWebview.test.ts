// Fault injection, category 2: hostile prompts and model output in the panels. Tokens, generations,
// file names and trigger tokens carrying HTML, script, event-handler attributes, bidi and zero-width
// characters, broken UTF-8 and lone surrogates, and 10,000 tokens are shown as text, never as markup,
// and no script runs; the page's CSP itself blocks inline script, eval and remote content (real
// Chromium, the very page the extension builds).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import type { DiffViewData, ExplorerViewData, ScoreViewData } from '../../src/protocol';
import { closeBrowser, openPanel } from '../support/browser';

const HOSTILE = [
  '<script>window.__pwned = 1</script>',
  '<img src=x onerror="window.__pwned = 2">',
  '"><svg onload="window.__pwned = 3">',
  'javascript:window.__pwned = 4',
  '\u202eevil\u202c',
  'zero\u200bwidth',
  '\ufffd\ufffd',
  '{{constructor.constructor("window.__pwned = 5")()}}',
  // A lone surrogate: what a byte-level token decodes to when it splits a character.
  'half\ud800',
  '<0xFF>',
];
const FIXTURES = path.join(__dirname, '..', 'webview', 'fixtures');

const SCORE: ScoreViewData = JSON.parse(readFileSync(path.join(FIXTURES, 'score.json'), 'utf8'));
const DIFF: DiffViewData = JSON.parse(readFileSync(path.join(FIXTURES, 'diff.json'), 'utf8'));

const pwned = (p: Awaited<ReturnType<typeof openPanel>>) => p.page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned);

/** No element matching `selector` (the kinds hostile markup would make) is in the panel, and no injected script ran. */
async function assertOnlyText(p: Awaited<ReturnType<typeof openPanel>>, selector: string): Promise<void> {
  const made = await p.page.evaluate((sel) => Array.from(document.querySelectorAll(sel), (e) => `${e.outerHTML.slice(0, 80)} in ${e.parentElement?.className}`), selector);
  assert.deepEqual(made, [], 'no element was created from the data');
  assert.equal(await pwned(p), undefined);
}

describe('faults 2: hostile prompts and outputs', () => {
  after(() => closeBrowser());

  test('score panel: hostile tokens render as their text; no script runs', async () => {
    const p = await openPanel('score');
    try {
      const tokens = [...HOSTILE, ...SCORE.tokens.slice(HOSTILE.length)];
      const data: ScoreViewData = { ...SCORE, prompt: HOSTILE.join(' '), tokens, next: HOSTILE.map((token, id) => ({ token, id, p: 0.1 })), triggers: HOSTILE.map((token, index) => ({ token, index, attribution: 1 })) };
      await p.send({ type: 'score', data });
      await p.page.waitForSelector('.token');
      const shown = await p.page.locator('.tokens .token').allTextContents();
      assert.equal(shown[0], HOSTILE[0]);
      assert.equal(shown[1], HOSTILE[1]);
      // Invisible controls are made visible instead of reordering or hiding text.
      assert.equal(shown[4], '\u27e8U+202E\u27e9evil\u27e8U+202C\u27e9');
      assert.equal(shown[5], 'zero\u27e8U+200B\u27e9width');
      await assertOnlyText(p, '#root script, #root img, #root svg');
    } finally {
      await p.close();
    }
  });

  test('ablation diff: hostile generations render as text, streamed or finished', async () => {
    const p = await openPanel('diff');
    try {
      const text = HOSTILE.join(' ');
      const data: DiffViewData = { ...DIFF, rows: [{ prompt: text, texts: { baseline: text, ablation: `${text} more`, addition: text }, verdict: { baseline: 'refused', ablation: 'answered', addition: 'refused' }, kl: { ablation: 1, addition: 0 }, done: true }] };
      await p.send({ type: 'diff', data });
      await p.send({ type: 'diffToken', row: 0, condition: 'addition', text: '<b onmouseover="window.__pwned = 6">x</b>' });
      assert.equal(await p.page.locator('[data-row="0"] .text[data-condition="baseline"]').textContent(), text);
      await assertOnlyText(p, '#root script, #root img, #root svg, #root b');
    } finally {
      await p.close();
    }
  });

  test('direction explorer: hostile file names, direction names and component tokens render as text', async () => {
    const data: ExplorerViewData = JSON.parse(readFileSync(path.join(FIXTURES, 'explorer.json'), 'utf8'));
    const p = await openPanel('explorer', { width: 420, height: 1400 });
    try {
      const hostile: ExplorerViewData = {
        ...data,
        model: HOSTILE[0],
        active: { ...data.active!, name: HOSTILE[1], file: HOSTILE[2] },
        promptSets: { harmful: HOSTILE[0], harmless: HOSTILE[4] },
        space: data.space && { ...data.space, layers: data.space.layers.map((l) => ({ ...l, topTokens: l.topTokens.map(() => HOSTILE) })) },
      };
      await p.send({ type: 'explorer', data: hostile });
      await p.page.waitForSelector('.candidates');
      const text = await p.page.locator('#root').textContent();
      assert.ok(text!.includes(HOSTILE[0]) && text!.includes(HOSTILE[1]), 'the hostile names are shown as text');
      await assertOnlyText(p, '#root script, #root img, #root svg:not(.chart)');
    } finally {
      await p.close();
    }
  });

  test('the CSP blocks inline script, inline handlers and eval even if markup got into the page', async () => {
    const p = await openPanel('score');
    try {
      const outcome = await p.page.evaluate(async () => {
        const w = window as unknown as { __pwned?: number };
        const violations: string[] = [];
        document.addEventListener('securitypolicyviolation', (e) => violations.push(e.effectiveDirective));
        const s = document.createElement('script');
        s.textContent = 'window.__pwned = 10';
        document.body.append(s);
        const b = document.createElement('button');
        b.setAttribute('onclick', 'window.__pwned = 11');
        document.body.append(b);
        b.click();
        // A string timer compiles later, in the page's own context (DevTools' evaluate may eval freely).
        (setTimeout as unknown as (code: string, ms: number) => void)('window.__pwned = 12', 0);
        await new Promise((r) => setTimeout(r, 100));
        return { pwned: w.__pwned, violations };
      });
      assert.equal(outcome.pwned, undefined, 'no injected script ran');
      // Inline script, inline handler and string eval: three script-src violations.
      assert.ok(outcome.violations.filter((v) => v.startsWith('script-src')).length >= 3, `violations reported: ${outcome.violations.join(', ')}`);
    } finally {
      await p.close().catch(() => {}); // Chromium logs each blocked attempt as a console error, on purpose
    }
  });

  test('the CSP blocks remote content: images, styles, fetches and frames from another origin never load', async () => {
    const hits: string[] = [];
    const remote = http.createServer((req, res) => {
      hits.push(req.url!);
      res.writeHead(200, { 'content-type': 'text/plain', 'access-control-allow-origin': '*' }).end('x');
    });
    await new Promise<void>((r) => remote.listen(0, '127.0.0.1', r));
    const origin = `http://127.0.0.1:${(remote.address() as AddressInfo).port}`;
    const p = await openPanel('score');
    try {
      const fetched = await p.page.evaluate(async (o) => {
        const img = document.createElement('img');
        img.src = `${o}/img.png`;
        const link = document.createElement('link');
        link.rel = 'stylesheet';
        link.href = `${o}/style.css`;
        const frame = document.createElement('iframe');
        frame.src = `${o}/frame.html`;
        document.body.append(img, link, frame);
        const got = await fetch(`${o}/data`).then(
          () => 'loaded',
          () => 'blocked',
        );
        await new Promise((r) => setTimeout(r, 300));
        return got;
      }, origin);
      assert.equal(fetched, 'blocked');
      assert.deepEqual(hits, [], 'the remote server saw no request');
    } finally {
      await p.close().catch(() => {});
      remote.close();
    }
  });

  test('10,000 tokens render and the page stays responsive', async () => {
    const p = await openPanel('score');
    try {
      const n = 10_000;
      const tokens = Array.from({ length: n }, (_, i) => HOSTILE[i % HOSTILE.length]);
      const data: ScoreViewData = { ...SCORE, tokens, instruction: [0, n], projections: SCORE.projections.map(() => tokens.map((_, i) => Math.sin(i))), components: [], triggers: [] };
      const started = Date.now();
      await p.send({ type: 'score', data });
      await p.page.waitForFunction((count) => document.querySelectorAll('.tokens .token').length === count, n, { timeout: 60_000 });
      assert.ok(Date.now() - started < 60_000);
      assert.equal(await p.page.evaluate(() => 1 + 1), 2, 'the page still answers');
      assert.equal(await pwned(p), undefined);
    } finally {
      await p.close();
    }
  });

  test('a malformed host message is reported in the panel, not dropped silently', async () => {
    const p = await openPanel('score');
    try {
      await p.send({ type: 'score', data: { tokens: '<script>' } });
      assert.match((await p.page.locator('.status.error').textContent())!, /Ignored a malformed message/);
    } finally {
      await p.close().catch(() => {}); // the panel logged the malformed message to the console on purpose
    }
  });
});
