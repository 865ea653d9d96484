// Hostile model output in the panels: tokens and generations carrying HTML, script, event-handler
// attributes, bidi and zero-width characters, replacement characters from broken UTF-8, and 10,000
// tokens are shown as text, never as markup, and no script runs (real Chromium, real CSP).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import type { DiffViewData, ScoreViewData } from '../../src/protocol';
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
];

const SCORE: ScoreViewData = JSON.parse(readFileSync(path.join(__dirname, 'fixtures', 'score.json'), 'utf8'));
const DIFF: DiffViewData = JSON.parse(readFileSync(path.join(__dirname, 'fixtures', 'diff.json'), 'utf8'));

const pwned = (p: Awaited<ReturnType<typeof openPanel>>) => p.page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned);

describe('hostile strings in the panels', () => {
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
      const made = await p.page.evaluate(() => Array.from(document.querySelectorAll('#root script, #root img, #root svg'), (e) => `${e.outerHTML.slice(0, 80)} in ${e.parentElement?.className}`));
      assert.deepEqual(made, [], 'no element was created from a token');
      assert.equal(await pwned(p), undefined);
    } finally {
      await p.close();
    }
  });

  test('ablation diff: hostile generations render as text, streamed or finished', async () => {
    const p = await openPanel('diff');
    try {
      const text = HOSTILE.join(' ');
      const data: DiffViewData = { ...DIFF, rows: [{ prompt: text, texts: { baseline: text, ablation: `${text} more`, addition: text }, refused: { baseline: true, ablation: false, addition: true }, kl: { ablation: 1, addition: 0 }, done: true }] };
      await p.send({ type: 'diff', data });
      await p.send({ type: 'diffToken', row: 0, condition: 'addition', text: '<b onmouseover="window.__pwned = 6">x</b>' });
      assert.equal(await p.page.locator('[data-row="0"] .text[data-condition="baseline"]').textContent(), text);
      const made = await p.page.evaluate(() => Array.from(document.querySelectorAll('#root script, #root img, #root svg, #root b'), (e) => `${e.outerHTML.slice(0, 80)} in ${e.parentElement?.className}`));
      assert.deepEqual(made, []);
      assert.equal(await pwned(p), undefined);
    } finally {
      await p.close();
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
