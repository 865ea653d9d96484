// Ablation Diff panel: completions under baseline, ablation and addition side by side, streamed as
// the engine produces them, with a word-level diff against the baseline, refusal verdicts, KL, a
// summary of refusal rates per condition, and controls to re-run with other settings.
import { provideVSCodeDesignSystem, vsCodeButton, vsCodeCheckbox, vsCodeTextField } from '@vscode/webview-ui-toolkit';
import { DiffViewData, type Condition, type DiffRow, type WebviewToHost } from '../../src/protocol';
import { el, onHostMessage, vscode } from '../shared/dom';
import { formatNumber } from '../shared/scale';
import { wordDiff } from '../shared/wordDiff';

provideVSCodeDesignSystem().register(vsCodeButton(), vsCodeCheckbox(), vsCodeTextField());

const LABEL: Record<Condition, string> = { baseline: 'Baseline', ablation: 'Direction ablated', addition: 'Direction added' };
const ALL: Condition[] = ['baseline', 'ablation', 'addition'];

const root = document.getElementById('root')!;
// State saved by an older version may lack fields: it is checked like a host message, and dropped if it fails.
const saved = DiffViewData.safeParse((vscode.getState() as { data?: unknown } | undefined)?.data);
let data: DiffViewData | undefined = saved.success ? saved.data : undefined;
const post = (m: WebviewToHost) => vscode.postMessage(m);
const pct = (x: number | null | undefined) => (x === null || x === undefined ? '–' : `${(100 * x).toFixed(0)}%`);

const VERDICT_TITLE = {
  refused: 'a refusal substring occurs in the completion',
  answered: 'no refusal substring, and the text is not degenerate',
  degenerate: 'empty, no letters, or one word or short n-gram looping: the model broke rather than answered',
};

function verdict(row: DiffRow, c: Condition, running: boolean): HTMLElement {
  const r = row.verdict[c];
  // A prompt a failed or cancelled run never finished has no verdict: its text is only a beginning.
  if (r === undefined && !row.done && !running) return el('span', { class: 'badge incomplete', 'aria-label': 'no verdict: the run stopped before this prompt finished' }, 'incomplete');
  if (r === undefined) return el('span', { class: 'badge', 'aria-label': 'verdict pending' }, row.done ? 'n/a' : '…');
  return el('span', { class: `badge ${r}`, title: VERDICT_TITLE[r] }, r);
}

/** The judge model's call on a completion, marked where it disagrees with the substring verdict. */
function judgeBadge(row: DiffRow, c: Condition): HTMLElement | string {
  const j = row.judge?.[c];
  if (!j) return '';
  const title = `judge model: P(unsafe) = ${formatNumber(j.p, 3)}${j.disagrees ? `; disagrees with the substring verdict (${row.verdict[c]})` : ''}`;
  return el('span', { class: `badge judge ${j.unsafe ? 'unsafe' : 'safe'}${j.disagrees ? ' disagrees' : ''}`, title }, `judge: ${j.unsafe ? 'unsafe' : 'safe'}${j.disagrees ? ' ≠' : ''}`);
}

/** The completion text; once the row is done, non-baseline columns show their word diff against the baseline. */
function completion(row: DiffRow, c: Condition): HTMLElement {
  const text = row.texts[c] ?? '';
  const box = el('div', { class: 'text', 'data-condition': c });
  const base = row.texts.baseline;
  const parts = row.done && c !== 'baseline' && base !== undefined ? wordDiff(base, text) : undefined;
  if (!parts) {
    box.textContent = text;
    if (row.done && c !== 'baseline' && base !== undefined) box.title = 'too different from the baseline to diff word by word in time';
    return box;
  }
  parts.forEach((p, k) => {
    box.append(p.kind === 'same' ? document.createTextNode(p.text) : el(p.kind, { title: p.kind === 'ins' ? 'not in the baseline' : 'only in the baseline' }, p.text));
    // A deletion followed straight by an insertion would read as one word ("that.sure"): keep a space between.
    const next = parts[k + 1];
    if (p.kind === 'del' && next?.kind === 'ins' && !/\s$/.test(p.text) && !/^\s/.test(next.text)) box.append(document.createTextNode(' '));
  });
  return box;
}

function rowView(row: DiffRow, i: number, d: DiffViewData): HTMLElement {
  const grid = el('div', { class: 'grid' });
  for (const c of d.conditions) {
    const kl = row.kl[c];
    grid.append(
      el('section', { class: 'cell', 'aria-label': `${LABEL[c]} completion of prompt ${i + 1}` },
        el('h4', {}, LABEL[c], verdict(row, c, d.state === 'running'), judgeBadge(row, c), c !== 'baseline' && kl !== undefined ? el('span', { class: 'muted', title: 'KL(baseline ‖ this) of the first next-token distribution' }, `KL ${formatNumber(kl ?? NaN, 4)}`) : ''),
        completion(row, c),
      ),
    );
  }
  const category = row.category === undefined ? '' : el('span', { class: 'muted category' }, ` [${row.category}]`);
  return el('article', { class: 'row', 'data-row': String(i) }, el('div', { class: 'prompt', title: 'prompt' }, `${i + 1}. ${row.prompt}`, category), grid);
}

function summary(d: DiffViewData): HTMLElement {
  const table = el('table', { class: 'summary', 'aria-label': 'refusal rate per condition' }, el('tr', {}, el('th', {}, 'condition'), el('th', {}, 'refusal rate'), el('th', { title: VERDICT_TITLE.degenerate }, 'degenerate'), el('th', {}, 'mean KL')));
  const j = d.judge;
  if (j) (table.firstChild as HTMLElement).append(el('th', { title: `judged unsafe by ${j.model}` }, 'judge: unsafe'), el('th', { title: 'a refusal judged unsafe, or an answer judged safe' }, 'disagree'));
  for (const c of d.conditions) {
    const judged = j ? [el('td', { class: 'judge-unsafe' }, pct(j.unsafeRate[c])), el('td', { class: 'disagree' }, pct(j.disagreementRate[c]))] : [];
    table.append(el('tr', { 'data-condition': c }, el('td', {}, LABEL[c]), el('td', { class: 'rate' }, pct(d.refusalRate[c])), el('td', { class: 'degenerate' }, pct(d.degenerateRate[c])), el('td', {}, c === 'baseline' ? '–' : formatNumber(d.meanKl[c] ?? NaN, 4)), ...judged));
  }
  return table;
}

/** The last capability check: does the model stay capable with the direction ablated? */
function capability(d: DiffViewData): HTMLElement | string {
  const c = d.capability;
  if (!c) return '';
  const names = Object.keys(c.accuracy);
  const label = (k: string) => LABEL[k as Condition] ?? k;
  const table = el('table', { class: 'summary capability', 'aria-label': 'capability per condition' }, el('tr', {}, el('th', {}, 'capability'), ...names.map((k) => el('th', {}, label(k)))));
  table.append(
    el('tr', { 'data-metric': 'accuracy' }, el('td', { title: `${c.items} multiple-choice items, by the log-likelihood of each choice` }, 'accuracy'), ...names.map((k) => el('td', {}, pct(c.accuracy[k])))),
    el('tr', { 'data-metric': 'perplexity' }, el('td', { title: `${c.tokens} tokens of plain text` }, 'perplexity'), ...names.map((k) => el('td', {}, formatNumber(c.perplexity[k] ?? NaN, 2)))),
  );
  return table;
}

/** Refusal (and degenerate) rate per category and condition, when the prompt file has categories. */
function categories(d: DiffViewData): HTMLElement | string {
  if (d.categories.length === 0) return '';
  const table = el('table', { class: 'summary categories', 'aria-label': 'refusal rate per category' }, el('tr', {}, el('th', {}, 'category'), el('th', {}, 'prompts'), ...d.conditions.map((c) => el('th', {}, `${LABEL[c]}: refused (degenerate)`))));
  for (const k of d.categories) {
    table.append(
      el('tr', { 'data-category': k.name }, el('td', {}, k.name), el('td', {}, String(k.prompts)), ...d.conditions.map((c) => el('td', { class: 'rate', 'data-condition': c }, `${pct(k.refusalRate[c])} (${pct(k.degenerateRate[c])})`))),
    );
  }
  return table;
}

function controls(d: DiffViewData): HTMLElement {
  const coefficient = el('vscode-text-field', { value: String(d.coefficient), 'aria-label': 'addition coefficient', id: 'coefficient' }, 'coefficient');
  const maxTokens = el('vscode-text-field', { value: String(d.maxNewTokens), 'aria-label': 'new tokens per condition', id: 'max-new-tokens' }, 'new tokens');
  const boxes = ALL.map((c) => el('vscode-checkbox', { value: c, ...(d.conditions.includes(c) ? { checked: '' } : {}) }, LABEL[c]));
  const problem = el('span', { class: 'status error', role: 'alert', hidden: '' });
  const rerun = el('vscode-button', { id: 'rerun' }, 'Run again');
  rerun.addEventListener('click', () => {
    const k = Number((coefficient as unknown as { value: string }).value);
    const n = Number((maxTokens as unknown as { value: string }).value);
    const conditions = ALL.filter((_, i) => (boxes[i] as unknown as { checked: boolean }).checked);
    const why = !Number.isFinite(k) ? 'the coefficient must be a number' : !(Number.isInteger(n) && n >= 1 && n <= 2048) ? 'new tokens must be a whole number from 1 to 2048' : conditions.length === 0 ? 'choose at least one condition' : '';
    problem.textContent = why;
    problem.hidden = !why;
    if (!why) post({ type: 'rerun', coefficient: k, maxNewTokens: n, conditions });
  });
  const check = el('vscode-button', { appearance: 'secondary', id: 'capability', title: 'multiple-choice accuracy and perplexity on a small built-in set, with and without the direction ablated' }, 'Check capability');
  check.addEventListener('click', () => post({ type: 'capability' }));
  const cancel = el('vscode-button', { appearance: 'secondary', id: 'cancel' }, 'Cancel');
  cancel.addEventListener('click', () => post({ type: 'cancel' }));
  return el('div', { class: 'controls' }, coefficient, maxTokens, ...boxes, rerun, check, ...(d.state === 'running' ? [cancel] : []), problem);
}

function render(): void {
  root.replaceChildren();
  const d = data;
  if (!d) {
    root.append(el('p', { class: 'muted' }, 'Select a prompt and run "Refusal Lens: Ablation Diff on Selection", or run it on a prompt file.'));
    return;
  }
  const done = d.rows.filter((r) => r.done).length;
  const state = d.state === 'running' ? `running: ${done} of ${d.rows.length} prompts done` : d.state === 'done' ? `${d.rows.length} prompt${d.rows.length === 1 ? '' : 's'}` : `${d.state} after ${done} of ${d.rows.length} prompts (rates cover finished prompts only)`;
  root.append(
    el('header', {},
      el('h2', {}, `Ablation diff: “${d.direction.name}” (layer ${d.direction.layer})`),
      el('p', { class: 'muted', id: 'run-state' }, `${d.source} · model ${d.model} · addition coefficient ${d.coefficient} · ${state}`),
    ),
    controls(d),
    summary(d),
    capability(d),
    categories(d),
    ...d.rows.map((r, i) => rowView(r, i, d)),
  );
}

onHostMessage(root, (msg) => {
  if (msg.type === 'diff') {
    data = msg.data;
    vscode.setState({ data });
    render();
  } else if (msg.type === 'diffToken' && data) {
    // Streaming: append to the host's copy and the one cell, without re-rendering the panel.
    const row = data.rows[msg.row];
    if (!row) return;
    row.texts[msg.condition] = (row.texts[msg.condition] ?? '') + msg.text;
    const cell = root.querySelector(`[data-row="${msg.row}"] .text[data-condition="${msg.condition}"]`);
    if (cell) cell.textContent = row.texts[msg.condition]!;
  }
});

render();
post({ type: 'ready' });
