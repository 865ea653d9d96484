// The Ablation Diff panel's bundle in headless Chromium with recorded engine results (organism, seed 1).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { DiffViewData } from '../../src/protocol';
import { screenshot, suitePanel, type PanelPage } from '../support/browser';

const DATA: DiffViewData = JSON.parse(readFileSync(path.join(__dirname, 'fixtures', 'diff.json'), 'utf8'));

describe('ablation diff panel in Chromium', () => {
  let p: PanelPage;
  suitePanel('diff', { height: 900 }, async (page) => {
    p = page;
  });

  test('streams tokens into the right cell before the prompt is finished', async () => {
    const running: DiffViewData = { ...DATA, state: 'running', rows: DATA.rows.map((r) => ({ ...r, texts: {}, refused: {}, kl: {}, done: false })), refusalRate: {}, meanKl: {} };
    await p.send({ type: 'diff', data: running });
    await p.send({ type: 'diffToken', row: 0, condition: 'ablation', text: 'sure' });
    await p.send({ type: 'diffToken', row: 0, condition: 'ablation', text: ', here' });
    assert.equal(await p.page.locator('[data-row="0"] .text[data-condition="ablation"]').textContent(), 'sure, here');
    assert.equal(await p.page.locator('[data-row="0"] .text[data-condition="baseline"]').textContent(), '');
    assert.match((await p.page.locator('#run-state').textContent())!, /running: 0 of 3/);
    assert.equal(await p.page.locator('#cancel').count(), 1);
    await p.page.locator('#cancel').click();
    assert.deepEqual((await p.posted()).at(-1), { type: 'cancel' });
  });

  test('finished rows show verdicts, a word diff against the baseline and the refusal-rate summary', async () => {
    await p.send({ type: 'diff', data: DATA });
    // Columns are found by the heading a user reads, so swapped labels fail here.
    const cell = (row: number, label: string) => p.page.locator(`[data-row="${row}"] section`).filter({ has: p.page.locator('h4', { hasText: label }) });
    // Prompt 0 is harmful: the baseline refuses, ablation answers (every word new), addition refuses.
    const badge = (row: number, label: string) => cell(row, label).locator('.badge').textContent();
    assert.equal(await badge(0, 'Baseline'), 'refused');
    assert.equal(await badge(0, 'Direction ablated'), 'answered');
    assert.equal(await badge(0, 'Direction added'), 'refused');
    assert.equal(await badge(1, 'Direction added'), 'refused');
    const ablated = cell(0, 'Direction ablated').locator('.text');
    const ins = await ablated.locator('ins').allTextContents();
    assert.ok(ins.join('').includes('sure'), `inserted words: ${ins}`);
    const del = await ablated.locator('del').allTextContents();
    assert.ok(del.join('').includes('cannot'), `deleted words: ${del}`);
    // The deleted baseline and the inserted text are separated by a space, not run together.
    const shown = (await ablated.textContent())!;
    assert.ok(shown.includes(`${del.at(-1)!.trimEnd()} ${ins[0].trimStart()}`), `deleted and inserted text run together: ${JSON.stringify(shown)}`);
    // Identical completions have no marks.
    assert.equal(await cell(1, 'Direction ablated').locator('ins, del').count(), 0);
    const rate = (label: string) => p.page.locator('.summary tr').filter({ has: p.page.locator('td', { hasText: label }) }).locator('.rate').textContent();
    assert.deepEqual([await rate('Baseline'), await rate('Direction ablated'), await rate('Direction added')], ['33%', '0%', '100%']);
    await screenshot(p.page, 'ablation-diff-panel');
  });

  test('Run again posts the chosen settings; bad values get a specific message and post nothing', async () => {
    const field = (id: string) => p.page.locator(`#${id} input`);
    await field('coefficient').fill('-1');
    await p.page.locator('#rerun').click();
    assert.deepEqual((await p.posted()).at(-1), { type: 'rerun', coefficient: -1, maxNewTokens: DATA.maxNewTokens, conditions: ['baseline', 'ablation', 'addition'] });
    const count = (await p.posted()).length;
    await field('max-new-tokens').fill('0');
    await p.page.locator('#rerun').click();
    assert.match((await p.page.locator('.controls [role="alert"]').textContent())!, /new tokens must be a whole number from 1 to 2048/);
    assert.equal((await p.posted()).length, count);
  });

  test('the data survives a reload through the webview state', async () => {
    const state = await p.page.evaluate(() => (window as unknown as { __state: { data: DiffViewData } }).__state);
    assert.equal(state.data.rows.length, DATA.rows.length);
  });
});
