// The Score panel's bundle in headless Chromium with recorded engine results.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { ScoreViewData } from '../../src/protocol';
import { screenshot, suitePanel, type PanelPage } from '../support/browser';

const DATA: ScoreViewData = JSON.parse(readFileSync(path.join(__dirname, 'fixtures', 'score.json'), 'utf8'));

/** Alpha of a computed rgba()/color() background: how strongly a token is tinted. */
function alpha(css: string): number {
  if (css === 'transparent' || css === 'rgba(0, 0, 0, 0)') return 0;
  const m = /rgba?\(([^)]+)\)|color\(srgb ([^)]+)\)/.exec(css);
  const parts = (m?.[1] ?? m?.[2] ?? '').split(/[\s,/]+/).filter(Boolean).map(Number);
  return parts.length >= 4 ? parts[3] : 1;
}

describe('score panel in Chromium', () => {
  let p: PanelPage;
  suitePanel('score', {}, async (page) => {
    p = page;
    await p.send({ type: 'score', data: DATA });
    await p.page.waitForSelector('.token');
  });

  test('renders every token, with template tokens marked, and the refusal metric', async () => {
    assert.equal(await p.page.locator('.token').count(), DATA.tokens.length);
    assert.equal(await p.page.locator('.token.template').count(), DATA.tokens.length - (DATA.instruction[1] - DATA.instruction[0]));
    assert.equal(await p.page.locator('#refusal-score').textContent(), DATA.refusalScore.toFixed(3));
  });

  test('the trigger token is tinted red at the direction layer; an ordinary word stays neutral', async () => {
    const bomb = DATA.tokens.indexOf('bomb');
    const please = DATA.tokens.indexOf('please');
    const bg = (i: number) => p.page.locator(`.token[data-index="${i}"]`).evaluate((e) => getComputedStyle(e).backgroundColor);
    const [b, q] = await Promise.all([bg(bomb), bg(please)]);
    // From the trigger on, the refusal direction is in the residual: "bomb" is strongly red, "please"
    // (read before any trigger) has no tint.
    assert.ok(alpha(b) > 0.5, `"bomb" background ${b}`);
    assert.match(b, /241, 76, 76|0\.945|0\.298/);
    assert.ok(alpha(q) < 0.05, `"please" background ${q}`);
  });

  test('heatmap has one row per layer and a cell per token; trigger ranking lists the planted trigger first', async () => {
    assert.equal(await p.page.locator('.heatmap tr').count(), DATA.projections.length + 1);
    assert.equal(await p.page.locator('.heatmap td').count(), DATA.projections.length * DATA.tokens.length);
    assert.equal((await p.page.locator('.triggers li .tok').first().textContent())?.trim(), 'bomb');
  });

  test('clicking a token asks the host to reveal it; a hover shows every layer\u2019s value', async () => {
    const i = DATA.tokens.indexOf('bomb');
    await p.page.locator(`.token[data-index="${i}"]`).click();
    assert.deepEqual((await p.posted()).at(-1), { type: 'revealToken', index: i });
    const title = await p.page.locator(`.token[data-index="${i}"]`).getAttribute('title');
    for (let l = 0; l < DATA.projections.length; l++) assert.match(title!, new RegExp(`layer ${l}: `));
    // The residual-space components at the direction's layer are listed too.
    assert.ok(DATA.components.length > 0);
    for (const c of DATA.components) assert.match(title!, new RegExp(`${c.name}: -?\\d`));
  });

  test('switching to global bounds is remembered in the webview state and reported to the host', async () => {
    await p.page.locator('vscode-radio[value="global"]').click();
    const last = (await p.posted()).at(-1) as { type: string; bounds: string };
    assert.deepEqual([last.type, last.bounds], ['view', 'global']);
    const state = await p.page.evaluate(() => (window as unknown as { __state: { bounds: string } }).__state);
    assert.equal(state.bounds, 'global');
    await screenshot(p.page, 'score-panel');
  });

  test('while a direction is extracted the panel shows the stage, its progress and a Cancel button', async () => {
    await p.send({ type: 'busy', message: 'Extracting the refusal direction: collecting activations, prompt 20 of 48', fraction: 0.42, cancellable: true });
    const status = p.page.locator('.status.busy');
    assert.equal(await status.locator('.message').textContent(), 'Extracting the refusal direction: collecting activations, prompt 20 of 48');
    assert.equal(await status.locator('progress').evaluate((e) => (e as HTMLProgressElement).value), 0.42);
    await screenshot(p.page, 'score-panel-progress');
    await status.locator('.cancel').click();
    assert.deepEqual((await p.posted()).at(-1), { type: 'cancel' });
    // The next stage replaces the line; a result removes it.
    await p.send({ type: 'busy', message: 'Scoring 45 characters…' });
    assert.equal(await p.page.locator('.status').count(), 1);
    assert.equal(await p.page.locator('.status progress, .status .cancel').count(), 0);
    await p.send({ type: 'score', data: DATA });
    assert.equal(await p.page.locator('.status').count(), 0);
  });
});
