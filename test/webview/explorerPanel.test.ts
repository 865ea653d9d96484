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
  // VS Code's default side bar width.
  suitePanel('explorer', { width: 300, height: 700 }, async (page) => {
    p = page;
    await p.send({ type: 'explorer', data: DATA });
    await p.page.waitForSelector('.candidates');
  });

  test('shows the active direction and one row per candidate, filtered ones greyed with their reason', async () => {
    assert.match((await p.page.locator('#active').textContent())!, new RegExp(`refusal.*layer ${DATA.active!.layer}`));
    const x = DATA.extraction!;
    assert.equal(await p.page.locator('.candidates tr.cand').count(), x.candidates.length);
    const filtered = x.candidates.filter((c) => c.filtered);
    assert.equal(await p.page.locator('.candidates tr.cand.filtered').count(), filtered.length);
    assert.ok(filtered.length > 0, 'the fixture has filtered candidates (late layers are pruned)');
    for (const c of filtered) {
      const row = p.page.locator(`.candidates tr[data-layer="${c.layer}"][data-position="${c.position}"]`);
      assert.equal(await row.locator('xpath=following-sibling::tr[1]').locator('.reason').textContent(), `filtered: ${c.filtered}`);
    }
    const selected = p.page.locator('.candidates tr.selected');
    assert.equal(await selected.getAttribute('data-layer'), String(x.selected!.layer));
    // One small chart per position (their lines would overlap on one axis), captioned with it.
    const charts = p.page.locator('.multiples figure');
    assert.equal(await charts.count(), x.positions.length);
    for (const [k, pos] of x.positions.entries()) {
      assert.equal(await charts.nth(k).locator('figcaption').textContent(), `position ${pos}`);
      assert.equal(await charts.nth(k).locator('path.line').count(), 1);
    }
    // Prompt counts in words, not the engine's keys; no value prints as "-0.0".
    const summary = (await p.page.locator('[aria-label="extraction"] p.muted').first().textContent())!;
    assert.match(summary, /48 harmful \(train\), 48 harmless \(train\), 16 harmful \(validation\)/);
    assert.doesNotMatch(await p.page.locator('body').innerText(), /-0\.0+(?!\d*[1-9])\b/);
  });

  test('filtered candidates stay readable: contrast of at least 4.5 against the background', async () => {
    const [fg, bg] = await p.page.locator('.candidates tr.filtered').first().evaluate((e) => [getComputedStyle(e).color, getComputedStyle(document.body).backgroundColor]);
    const rgba = (c: string) => c.match(/[\d.]+/g)!.map(Number);
    const [r, g, b, a = 1] = rgba(fg);
    const base = rgba(bg);
    // The text colour blended over the background, then WCAG's relative luminance.
    const blended = [r, g, b].map((v, i) => v * a + base[i] * (1 - a));
    const lum = (c: number[]) => c.map((v) => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4).reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
    const ratio = (lum(blended) + 0.05) / (lum(base) + 0.05);
    assert.ok(ratio >= 4.5, `filtered rows: ${fg} on ${bg}, contrast ${ratio.toFixed(2)}`);
  });

  test('choosing a candidate with the keyboard posts it to the host', async () => {
    const row = p.page.locator('.candidates tr.cand:not(.selected)').first();
    const [layer, position] = [Number(await row.getAttribute('data-layer')), Number(await row.getAttribute('data-position'))];
    await row.focus();
    await p.page.keyboard.press('Enter');
    assert.deepEqual((await p.posted()).at(-1), { type: 'useCandidate', layer, position });
  });

  test('at a 300 px side bar no text is clipped and nothing runs off the right edge', async () => {
    const problems = await p.page.evaluate(() => {
      const out: string[] = [];
      const width = document.documentElement.clientWidth;
      if (document.documentElement.scrollWidth > width + 1) out.push(`the page is ${document.documentElement.scrollWidth} px wide`);
      const elements = Array.from(document.querySelectorAll('body *')).filter((e) => !e.closest('svg') && Array.from(e.childNodes).some((n) => n.nodeType === Node.TEXT_NODE && n.textContent!.trim()));
      for (const e of elements) {
        const r = e.getBoundingClientRect();
        if (r.width === 0) continue;
        const label = `${e.tagName.toLowerCase()}.${e.className} "${e.textContent!.trim().slice(0, 30)}"`;
        const cs = getComputedStyle(e);
        if (cs.textOverflow === 'ellipsis' || (/hidden|clip/.test(cs.overflowX) && e.scrollWidth > e.clientWidth + 1)) out.push(`${label} is cut`);
        // Its right edge within the view and within every ancestor that could hide it (scroll boxes too).
        let right = width;
        for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) if (getComputedStyle(a).overflowX !== 'visible') right = Math.min(right, a.getBoundingClientRect().right);
        if (r.right > right + 1) out.push(`${label} ends at ${Math.round(r.right)} px, beyond ${Math.round(right)} px`);
      }
      return out;
    });
    assert.deepEqual(problems, []);
  });

  test('residual space: components list their trigger tokens, the interaction matrix is coloured by sign', async () => {
    const layer = DATA.space!.layers[Math.floor(DATA.space!.layers.length / 2)];
    const rows = p.page.locator('.components tr');
    assert.equal(await rows.count(), layer.accuracy.length + 1);
    assert.equal(await rows.nth(1).locator('td.tok .chip').first().textContent(), layer.topTokens[0][0]);
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
    // The prompts the matrix was measured on, since its sign and size depend on them.
    assert.match((await p.page.locator('#interaction-method').textContent())!, /measured on 24 interaction prompts \(sha256 3f5a9c0e1b2d…\)/);
    // Which labels component accuracy was measured against.
    assert.match((await p.page.locator('#space-labels').textContent())!, /% refused \(labels: the base model's greedy first answer token is a refusal token \(Pan et al.'s labels\)\)\.$/);
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

  test("candidates fast selection skipped show '–' for the scores not computed, and the button asks the host to score them", async () => {
    const x = DATA.extraction!;
    const skipped = x.candidates.filter((c) => !c.filtered && !(x.selected && c.layer === x.selected.layer && c.position === x.selected.position)).slice(0, 2);
    assert.equal(skipped.length, 2, 'the fixture has unfiltered candidates besides the selected one');
    const mark = (c: (typeof x.candidates)[number]) => (skipped.includes(c) ? { ...c, induce: null, kl: null, skipped: 'KL and induce not computed' } : c);
    await p.send({ type: 'explorer', data: { ...DATA, extraction: { ...x, candidates: x.candidates.map(mark) } } });
    const row = p.page.locator(`.candidates tr[data-layer="${skipped[0].layer}"][data-position="${skipped[0].position}"] td`);
    assert.deepEqual((await row.allTextContents()).slice(3, 5), ['–', '–']);
    assert.match((await p.page.locator('#skipped-note').textContent())!, /^2 candidates were not fully scored/);
    await p.page.locator('#score-skipped').click();
    assert.ok((await p.posted()).some((m) => (m as { type: string }).type === 'scoreSkipped'));
    await p.send({ type: 'explorer', data: DATA });
    assert.equal(await p.page.locator('#score-skipped').count(), 0);
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

  test('results of Compute are scrolled into view when they arrive', async () => {
    const { space: _space, ...withoutSpace } = DATA;
    await p.send({ type: 'explorer', data: withoutSpace });
    await p.page.evaluate(() => window.scrollTo(0, 0));
    await p.send({ type: 'explorer', data: { ...withoutSpace, task: { kind: 'space', message: 'Computing the space' } } });
    // The host clears the task first, then sends the results.
    await p.send({ type: 'explorer', data: withoutSpace });
    await p.send({ type: 'explorer', data: DATA });
    const top = await p.page.locator('[aria-label="safety residual space"]').evaluate((e) => e.getBoundingClientRect().top);
    assert.ok(Math.abs(top) < 2, `the space section starts ${top} px from the top of the view`);
  });
});
