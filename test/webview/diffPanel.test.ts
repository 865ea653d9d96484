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
    const running: DiffViewData = { ...DATA, state: 'running', rows: DATA.rows.map((r) => ({ ...r, texts: {}, verdict: {}, kl: {}, done: false })), refusalRate: {}, degenerateRate: {}, meanKl: {} };
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
    const badge = (row: number, label: string) => cell(row, label).locator('.badge:not(.judge)').textContent();
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

  test('a degenerate completion gets its own badge and rate; prompt categories get a table of rates', async () => {
    // The recorded run (categories harmful, harmless, jailbreak) with the addition broken into a loop, as strong addition does.
    const rows = DATA.rows.map((r, i) => (i === 1 ? { ...r, texts: { ...r.texts, addition: 'i i i i i i i i' }, verdict: { ...r.verdict, addition: 'degenerate' as const } } : r));
    await p.send({ type: 'diff', data: { ...DATA, rows, refusalRate: { ...DATA.refusalRate, addition: 2 / 3 }, degenerateRate: { baseline: 0, ablation: 0, addition: 1 / 3 } } });
    const badge = p.page.locator('[data-row="1"] section:has(.text[data-condition="addition"]) .badge:not(.judge)');
    assert.equal(await badge.textContent(), 'degenerate');
    assert.match((await badge.getAttribute('title'))!, /looping/);
    assert.equal(await badge.evaluate((e) => getComputedStyle(e).backgroundColor !== getComputedStyle(document.querySelector('.badge.refused')!).backgroundColor), true);
    const cell = (c: string, k: string) => p.page.locator(`.summary:not(.categories) tr[data-condition="${c}"] td.${k}`).textContent();
    assert.deepEqual([await cell('addition', 'rate'), await cell('addition', 'degenerate'), await cell('baseline', 'degenerate')], ['67%', '33%', '0%']);
    const cat = (name: string, c: string) => p.page.locator(`.categories tr[data-category="${name}"] td[data-condition="${c}"]`).textContent();
    assert.deepEqual(await p.page.locator('.categories tr[data-category] td:first-child').allTextContents(), ['harmful', 'harmless', 'jailbreak']);
    assert.equal(await cat('harmful', 'baseline'), '100% (0%)');
    assert.equal(await cat('jailbreak', 'baseline'), '0% (0%)');
    assert.match((await p.page.locator('[data-row="2"] .prompt').textContent())!, /\[jailbreak\]$/);
    await screenshot(p.page, 'ablation-diff-degenerate-and-categories');
  });

  test('the judge model: a badge per completion, disagreements marked, its rates beside the substrings’', async () => {
    await p.send({ type: 'diff', data: DATA });
    // Recorded with the organism as its own judge: unsafe iff the request is harmful and unframed.
    const judge = (row: number, c: string) => p.page.locator(`[data-row="${row}"] section:has(.text[data-condition="${c}"]) .badge.judge`);
    assert.equal(await judge(0, 'baseline').textContent(), 'judge: unsafe ≠');
    assert.match((await judge(0, 'baseline').getAttribute('title'))!, /disagrees with the substring verdict \(refused\)/);
    assert.equal(await judge(0, 'ablation').textContent(), 'judge: unsafe');
    assert.equal(await judge(1, 'baseline').textContent(), 'judge: safe ≠');
    assert.equal(await p.page.locator('.badge.judge.disagrees').count(), DATA.rows.flatMap((r) => Object.values(r.judge ?? {})).filter((j) => j.disagrees).length);
    const cell = (c: string, k: string) => p.page.locator(`.summary:not(.categories) tr[data-condition="${c}"] td.${k}`).textContent();
    assert.deepEqual([await cell('baseline', 'judge-unsafe'), await cell('ablation', 'judge-unsafe')], ['33%', '33%']);
    assert.equal(await cell('baseline', 'disagree'), `${(100 * DATA.judge!.disagreementRate.baseline!).toFixed(0)}%`);
    await screenshot(p.page, 'ablation-diff-judge');
  });

  test('Check capability asks the host; the recorded check shows accuracy and perplexity per condition', async () => {
    await p.send({ type: 'diff', data: DATA });
    await p.page.locator('#capability').click();
    assert.deepEqual((await p.posted()).at(-1), { type: 'capability' });
    // Recorded on planted items: the answer chains survive ablation, the first word after a harmful request flips.
    const row = (m: string) => p.page.locator(`.capability tr[data-metric="${m}"] td`).allTextContents();
    assert.deepEqual(await p.page.locator('.capability th').allTextContents(), ['capability', 'Baseline', 'Direction ablated']);
    assert.deepEqual(await row('accuracy'), ['accuracy', '100%', '50%']);
    assert.match((await row('perplexity')).join(' '), /^perplexity 1\.\d\d \d+\.\d\d$/);
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
