// The Direction Explorer's geometry section in headless Chromium, on recorded organism v2 results
// (test/webview/recordHeads.ts): the candidates' cosine matrix, the active direction against
// another direction file, the logit lens, and the buttons that ask the host for them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { ExplorerViewData } from '../../src/protocol';
import { screenshot, suitePanel, type PanelPage } from '../support/browser';

const DATA: ExplorerViewData = JSON.parse(readFileSync(path.join(__dirname, 'fixtures', 'heads.json'), 'utf8')).explorer;

describe('direction geometry in the explorer (Chromium)', () => {
  let p: PanelPage;
  suitePanel('explorer', { width: 420, height: 900 }, async (page) => {
    p = page;
    const { geometry: _omit, ...without } = DATA;
    await p.send({ type: 'explorer', data: without });
    await p.page.waitForSelector('#compare-file');
  });

  test('the buttons ask the host for a comparison and for the logit lens', async () => {
    await p.page.locator('#compare-file').click();
    assert.deepEqual((await p.posted()).at(-1), { type: 'compareFile' });
    await p.page.locator('#logit-lens').click();
    assert.deepEqual((await p.posted()).at(-1), { type: 'logitLens' });
    assert.equal(await p.page.locator('.cosine-matrix').count(), 0);
  });

  test("the candidates' cosine matrix: a cell per pair, symmetric, 1 on the diagonal", async () => {
    await p.send({ type: 'explorer', data: DATA });
    const c = DATA.geometry!.candidates!;
    const n = c.labels.length;
    assert.equal(await p.page.locator('.cosine-matrix td').count(), n * n);
    const value = (i: number, j: number) => p.page.locator(`.cosine-matrix td[data-i="${i}"][data-j="${j}"]`).getAttribute('data-value').then(Number);
    for (let i = 0; i < n; i++) assert.equal(await value(i, i), 1);
    assert.equal(await value(1, n - 1), await value(n - 1, 1));
    assert.equal(await p.page.locator('.cosine-matrix th[scope="row"]').first().textContent(), `L${c.labels[0].layer} p${c.labels[0].position}`);
  });

  test('the comparison with the planted direction and the logit lens', async () => {
    const g = DATA.geometry!;
    assert.equal(await p.page.locator('#compare-cosine').textContent(), g.comparison!.selected.toFixed(4));
    assert.ok(g.comparison!.selected > 0.8, 'the extracted direction is close to the planted r');
    assert.deepEqual(await p.page.locator('.lens-tokens.top .chip').allTextContents(), g.lens!.top.map((t) => t.token));
    assert.deepEqual(await p.page.locator('.lens-tokens.bottom .chip').allTextContents(), g.lens!.bottom.map((t) => t.token));
    await screenshot(p.page, 'explorer-geometry');
  });
});
