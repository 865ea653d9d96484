// The Direction Explorer's bundle in headless Chromium with recorded engine results (organism, seed 1).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { ExplorerViewData } from '../../src/protocol';
import { screenshot, suitePanel, type PanelPage } from '../support/browser';

const DATA: ExplorerViewData = JSON.parse(readFileSync(path.join(__dirname, 'fixtures', 'explorer.json'), 'utf8'));

describe('direction explorer in Chromium', () => {
  let p: PanelPage;
  // About the width of a side bar.
  suitePanel('explorer', { width: 420, height: 1400 }, async (page) => {
    p = page;
    await p.send({ type: 'explorer', data: DATA });
    await p.page.waitForSelector('.candidates');
  });

  test('shows the active direction and one row per candidate, filtered ones greyed with their reason', async () => {
    assert.match((await p.page.locator('#active').textContent())!, new RegExp(`refusal.*layer ${DATA.active!.layer}`));
    const x = DATA.extraction!;
    assert.equal(await p.page.locator('.candidates tr.cand').count(), x.candidates.length);
    const filtered = x.candidates.filter((c) => c.filtered);
    assert.equal(await p.page.locator('.candidates tr.filtered').count(), filtered.length);
    assert.ok(filtered.length > 0, 'the fixture has filtered candidates (late layers are pruned)');
    for (const c of filtered) {
      const row = p.page.locator(`.candidates tr[data-layer="${c.layer}"][data-position="${c.position}"]`);
      assert.equal(await row.locator('.reason').textContent(), c.filtered);
    }
    const selected = p.page.locator('.candidates tr.selected');
    assert.equal(await selected.getAttribute('data-layer'), String(x.selected!.layer));
    // The chart has a line per position.
    assert.equal(await p.page.locator('svg.chart').first().locator('path.line').count(), x.positions.length);
  });

  test('choosing a candidate with the keyboard posts it to the host', async () => {
    const row = p.page.locator('.candidates tr.cand:not(.selected)').first();
    const [layer, position] = [Number(await row.getAttribute('data-layer')), Number(await row.getAttribute('data-position'))];
    await row.focus();
    await p.page.keyboard.press('Enter');
    assert.deepEqual((await p.posted()).at(-1), { type: 'useCandidate', layer, position });
  });

  test('residual space: components list their trigger tokens, the interaction matrix is coloured by sign', async () => {
    const layer = DATA.space!.layers[Math.floor(DATA.space!.layers.length / 2)];
    const rows = p.page.locator('.components tr');
    assert.equal(await rows.count(), layer.accuracy.length + 1);
    assert.equal((await rows.nth(1).locator('td.tok').textContent())!.split(/\s+/).filter(Boolean)[0], layer.topTokens[0][0]);
    const inter = DATA.space!.interactions.find((m) => m.from === layer.layer)!;
    const cells = p.page.locator('.matrix td');
    assert.equal(await cells.count(), inter.matrix.flat().length);
    // The most negative entry is tinted blue, the most positive red.
    const flat = inter.matrix.flat();
    const bg = (i: number) => cells.nth(i).evaluate((e) => getComputedStyle(e).backgroundColor);
    const min = flat.indexOf(Math.min(...flat));
    const max = flat.indexOf(Math.max(...flat));
    if (flat[min] < 0) assert.match(await bg(min), /55, 148, 255|0\.2156|0\.58/);
    if (flat[max] > 0) assert.match(await bg(max), /241, 76, 76|0\.945|0\.298/);
    await screenshot(p.page, 'direction-explorer');
  });

  test('components: the best one and the logistic-probe baseline beside them; Remove on a row asks the host to intervene; the result table', async () => {
    const layer = DATA.space!.layers[Math.floor(DATA.space!.layers.length / 2)];
    assert.equal((await p.page.locator('#probe').textContent())!, `best component C${layer.best!.component} (${layer.best!.accuracy!.toFixed(2)}); logistic probe ${layer.probe!.toFixed(2)} (held-out half, the baseline to beat)`);
    await p.page.locator('.components tr[data-component="1"] vscode-button').click();
    assert.deepEqual((await p.posted()).at(-1), { type: 'intervene', layer: layer.layer, component: 1 });
    // The recorded intervention: C0 removed at the direction's layer on 8 harmful and 8 framed prompts.
    const iv = DATA.space!.intervention!;
    const cell = (set: string, k: string) => p.page.locator(`#intervention tr[data-set="${set}"] .${k}`).textContent();
    assert.deepEqual([await cell('all', 'baseline'), await cell('all', 'intervened')], [`${(100 * iv.refusalRate.baseline).toFixed(0)}%`, `${(100 * iv.refusalRate.intervened).toFixed(0)}%`]);
    assert.deepEqual([await cell('harmful', 'baseline'), await cell('harmful', 'intervened')], ['100%', '0%']);
    assert.match((await p.page.locator('#intervention h4').textContent())!, new RegExp(`C0@${iv.layer} removed`));
    assert.match((await p.page.locator('#intervention p').textContent())!, /perplexity of the baseline's answers 1\.\d{3} → 1\.\d{3}/);
    await screenshot(p.page, 'direction-explorer-intervention');
  });

  test('buttons ask the host: compute the space, import, extract', async () => {
    await p.page.locator('#compute-space').click();
    await p.page.locator('#extract').click();
    const types = (await p.posted()).map((m) => (m as { type: string }).type);
    assert.ok(types.includes('space') && types.includes('extract'), types.join(','));
  });

  test('a progress task disables Extract, shows its message and can be cancelled', async () => {
    await p.send({ type: 'explorer', data: { ...DATA, task: { kind: 'extract', message: 'Scoring candidates', fraction: 0.5 } } });
    assert.match((await p.page.locator('.task').textContent())!, /Scoring candidates \(50%\)/);
    assert.equal(await p.page.locator('#extract').getAttribute('disabled'), '');
    await p.page.locator('#cancel').click();
    assert.deepEqual((await p.posted()).at(-1), { type: 'cancel' });
  });
});
