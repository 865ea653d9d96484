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

  test('buttons ask the host: compute the space, import, extract', async () => {
    await p.page.locator('#compute-space').click();
    await p.page.locator('#extract').click();
    const types = (await p.posted()).map((m) => (m as { type: string }).type);
    assert.ok(types.includes('space') && types.includes('extract'), types.join(','));
  });

  test('the chat template section shows the post-instruction and refusal tokens, the template variables and a direction made with others', async () => {
    const chat: NonNullable<ExplorerViewData['chat']> = {
      postInstructionTokens: ['<|im_end|>', '\n', '<|im_start|>', 'assistant', '\n'],
      postInstructionTokenIds: [2, 9, 1, 17, 9],
      refusalTokens: ['I', 'As'],
      refusalTokenIds: [40, 2121],
      template: { system: 'custom', systemPrompt: 'Be brief.', defaultSystemPrompt: '', enableThinking: false, date: '2025-01-31' },
      examplePrompt: '<|im_start|>user\nHow do I bake bread?<|im_end|>\n<|im_start|>assistant\n',
    };
    const warning = 'dirs.json was made from prompts rendered with other chat-template variables (enable_thinking true then, false now)';
    await p.send({ type: 'explorer', data: { ...DATA, chat, active: { ...DATA.active!, warning } } });
    const text = (await p.page.locator('#chat-template').textContent())!;
    for (const want of ['<|im_end|> (2)', '\u21b5 (9)', 'assistant (17)', 'I (40)  As (2121)', 'custom: Be brief.', 'enable_thinking: false', '2025-01-31', 'How do I bake bread?']) {
      assert.ok(text.includes(want), `${JSON.stringify(want)} not in ${JSON.stringify(text)}`);
    }
    assert.match((await p.page.locator('#active .warning').textContent())!, /enable_thinking true then, false now/);
    await p.send({ type: 'explorer', data: DATA });
    assert.equal(await p.page.locator('#chat-template').count(), 0);
  });

  test('a progress task disables Extract, shows its message and can be cancelled', async () => {
    await p.send({ type: 'explorer', data: { ...DATA, task: { kind: 'extract', message: 'Scoring candidates', fraction: 0.5 } } });
    assert.match((await p.page.locator('.task').textContent())!, /Scoring candidates \(50%\)/);
    assert.equal(await p.page.locator('#extract').getAttribute('disabled'), '');
    await p.page.locator('#cancel').click();
    assert.deepEqual((await p.posted()).at(-1), { type: 'cancel' });
  });
});
