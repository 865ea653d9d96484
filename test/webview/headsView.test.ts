// The Score panel's Heads view in headless Chromium, on recorded engine results from organism v2
// (test/webview/recordHeads.ts): the layer × head heatmap, clicking a head to see its attention, the
// top heads, and the suffix comparison side by side, where the planted heads must be visible.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { ScoreViewData } from '../../src/protocol';
import { screenshot, suitePanel, type PanelPage } from '../support/browser';

const RECORDED: {
  groundTruth: { heads: { layer: number; head: number }[]; refusalHead: { layer: number; head: number } };
  comparison: ScoreViewData;
  plain: ScoreViewData;
} = JSON.parse(readFileSync(path.join(__dirname, 'fixtures', 'heads.json'), 'utf8'));

const { refusalHead } = RECORDED.groundTruth;
const cell = (side: string, l: number, h: number) => `.heads-side[data-side="${side}"] .head-cell[data-layer="${l}"][data-head="${h}"]`;

describe('Heads view in Chromium', () => {
  let p: PanelPage;
  const panel = suitePanel('score', { width: 1100, height: 900 }, async (page) => {
    p = page;
  });

  test('before it is asked for, the section offers "Attribute to heads", which asks the host', async () => {
    p = panel();
    const { heads: _omit, ...withoutHeads } = RECORDED.plain;
    await p.send({ type: 'score', data: withoutHeads });
    await p.page.locator('.attribute-heads').click();
    assert.deepEqual((await p.posted()).at(-1), { type: 'heads' });
  });

  test('a heatmap cell per layer and head, with its value, and the planted refusal head tinted red', async () => {
    await p.send({ type: 'score', data: RECORDED.plain });
    const run = RECORDED.plain.heads!.run;
    const [layers, heads] = [run.contributions.length, run.contributions[0].length];
    assert.equal(await p.page.locator('.head-cell').count(), layers * heads);
    const top = p.page.locator(cell('this prompt', refusalHead.layer, refusalHead.head));
    assert.equal(Number(await top.getAttribute('data-value')), run.contributions[refusalHead.layer][refusalHead.head]);
    assert.match(await top.evaluate((e) => getComputedStyle(e).backgroundColor), /241, 76, 76|0\.945|0\.298/);
    // The top heads list leads with the refusal head, which attends to the harm word.
    const first = p.page.locator('.top-heads li').first();
    assert.deepEqual([await first.getAttribute('data-layer'), await first.getAttribute('data-head')], [String(refusalHead.layer), String(refusalHead.head)]);
  });

  test('clicking a head shows its attention over the tokens, remembered in the webview state', async () => {
    const other = RECORDED.groundTruth.heads.find((h) => h.layer !== refusalHead.layer || h.head !== refusalHead.head)!;
    await p.page.locator(cell('this prompt', other.layer, other.head)).click();
    const box = p.page.locator('.heads-side .attention');
    assert.deepEqual([await box.getAttribute('data-layer'), await box.getAttribute('data-head')], [String(other.layer), String(other.head)]);
    const run = RECORDED.plain.heads!.run;
    const weights = await box.locator('.token.attn').evaluateAll((es) => es.map((e) => Number(e.getAttribute('data-weight'))));
    assert.deepEqual(weights, run.attention[other.layer][other.head]);
    const state = await p.page.evaluate(() => (window as unknown as { __state: { head: unknown } }).__state);
    assert.deepEqual(state.head, { layer: other.layer, head: other.head });
  });

  test('suffix comparison side by side: the planted heads attend to the suffix token, the refusal head loses its contribution', async () => {
    await p.send({ type: 'score', data: RECORDED.comparison });
    const c = RECORDED.comparison.heads!.comparison!;
    const sides = await p.page.locator('.heads-side').evaluateAll((es) => es.map((e) => e.getAttribute('data-side')));
    assert.deepEqual(sides, [`with “${c.suffix}”`, 'without suffix']);
    // The top table lists the refusal head first, with a large drop.
    const row = p.page.locator('.suffix-top tr[data-layer]').first();
    assert.deepEqual([await row.getAttribute('data-layer'), await row.getAttribute('data-head')], [String(refusalHead.layer), String(refusalHead.head)]);
    assert.ok(c.top[0].change < -0.8 * c.top[0].baseline);
    await row.click();
    // Its attention: on the suffix token with the suffix, on the instruction without it.
    for (const [side, run] of [[`with “${c.suffix}”`, c.withSuffix], ['without suffix', c.withBaseline]] as const) {
      const tokens = p.page.locator(`.heads-side[data-side="${side}"] .attention .token.attn`);
      const weights = await tokens.evaluateAll((es) => es.map((e) => Number(e.getAttribute('data-weight'))));
      const peak = weights.indexOf(Math.max(...weights));
      if (run.suffixTokens![1] > run.suffixTokens![0]) assert.equal(run.tokens[peak], c.suffix);
      else assert.ok(peak >= run.instruction[0] && peak < run.instruction[1]);
    }
    assert.equal(await p.page.locator(`.heads-side[data-side="with “${c.suffix}”"] .token.attn.suffix`).count(), 1);
    assert.equal(await p.page.locator('.cosines tr[data-layer]').count(), c.cosines.length);
    await screenshot(p.page, 'score-panel-heads');
  });
});
