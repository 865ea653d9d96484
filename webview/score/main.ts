// Score panel: the prompt's tokens coloured by their projection onto the active direction at a
// chosen layer, a token × layer heatmap, the refusal metric, next-token probabilities and the
// trigger-token ranking. Receives results from the host; computes nothing about the model.
import { provideVSCodeDesignSystem, vsCodeDropdown, vsCodeOption, vsCodeRadio, vsCodeRadioGroup, vsCodeButton } from '@vscode/webview-ui-toolkit';
import type { ScoreViewData, WebviewToHost } from '../../src/protocol';
import { el, indexDropdown, onHostMessage, visibleToken, vscode } from '../shared/dom';
import { boundsOf, colour, formatNumber, type Bounds } from '../shared/scale';
import { headsSection, type HeadPick } from './heads';

provideVSCodeDesignSystem().register(vsCodeDropdown(), vsCodeOption(), vsCodeRadio(), vsCodeRadioGroup(), vsCodeButton());

interface ViewState {
  data?: ScoreViewData;
  layer?: number;
  bounds: 'layer' | 'global';
  /** The head whose attention the Heads view shows. */
  head?: HeadPick;
}

const root = document.getElementById('root')!;
let state: ViewState = (vscode.getState() as ViewState | undefined) ?? { bounds: 'layer' };

const post = (m: WebviewToHost) => vscode.postMessage(m);

function save(): void {
  vscode.setState(state);
}

function boundsFor(d: ScoreViewData, layer: number): Bounds {
  return state.bounds === 'global' ? boundsOf(d.projections.flat()) : boundsOf(d.projections[layer]);
}

function tooltip(d: ScoreViewData, i: number): string {
  const lines = d.projections.map((row, l) => `layer ${l}: ${formatNumber(row[i])}`);
  const components = d.components.map((c) => `${c.name}: ${formatNumber(c.values[i])}`);
  return [`${JSON.stringify(d.tokens[i])} (token ${i})`, `projection onto ${d.direction.name}`, ...lines, ...(components.length ? ['residual-space components', ...components] : [])].join('\n');
}

function tokenRow(d: ScoreViewData, layer: number): HTMLElement {
  const b = boundsFor(d, layer);
  const row = el('div', { class: 'tokens', role: 'list', 'aria-label': `tokens coloured by projection at layer ${layer}` });
  d.tokens.forEach((t, i) => {
    const v = d.projections[layer][i];
    const inInstruction = i >= d.instruction[0] && i < d.instruction[1];
    const span = el('span', {
      class: `token${inInstruction ? '' : ' template'}`,
      role: 'listitem',
      tabindex: '0',
      title: tooltip(d, i),
      'aria-label': `${t}: ${formatNumber(v)}`,
      'data-index': String(i),
      'data-value': String(v),
    }, visibleToken(t));
    span.style.backgroundColor = colour(v, b);
    span.addEventListener('click', () => post({ type: 'revealToken', index: i }));
    span.addEventListener('keydown', (e) => e.key === 'Enter' && post({ type: 'revealToken', index: i }));
    row.append(span);
  });
  return row;
}

function legend(b: Bounds): HTMLElement {
  return el(
    'div',
    { class: 'legend', 'aria-label': `colour scale from ${formatNumber(-b.max)} to ${formatNumber(b.max)}` },
    el('span', {}, formatNumber(-b.max)),
    el('span', { class: 'gradient' }),
    el('span', {}, formatNumber(b.max)),
    el('span', { class: 'muted' }, ' (0 = neutral; red = towards refusal)'),
  );
}

function heatmap(d: ScoreViewData): HTMLElement {
  const b = boundsOf(d.projections.flat());
  const table = el('table', { class: 'heatmap', 'aria-label': 'projection per token and layer' });
  const head = el('tr', {}, el('th', { scope: 'col' }, 'layer'));
  d.tokens.forEach((t) => head.append(el('th', { scope: 'col', class: 'tok' }, visibleToken(t))));
  table.append(head);
  d.projections.forEach((row, l) => {
    const tr = el('tr', {}, el('th', { scope: 'row' }, String(l)));
    row.forEach((v, i) => {
      const td = el('td', { title: tooltip(d, i), 'data-layer': String(l), 'data-index': String(i) });
      td.style.backgroundColor = colour(v, b);
      tr.append(td);
    });
    table.append(tr);
  });
  return table;
}

function render(): void {
  const d = state.data;
  root.replaceChildren();
  if (!d) {
    root.append(el('p', { class: 'muted' }, 'Select a prompt in an editor and run "Refusal Lens: Score Selection".'));
    return;
  }
  const layer = Math.min(state.layer ?? d.direction.layer, d.projections.length - 1);
  const dropdown = indexDropdown(d.projections.map((_, l) => `layer ${l}${l === d.direction.layer ? ' (direction)' : ''}`), layer, { 'aria-label': 'layer' }, (picked) => {
    state.layer = picked;
    save();
    post({ type: 'view', layer: picked, bounds: state.bounds });
    render();
  });
  const bounds = el('vscode-radio-group', { 'aria-label': 'colour bounds' },
    el('vscode-radio', { value: 'layer', ...(state.bounds === 'layer' ? { checked: '' } : {}) }, 'per-layer bounds'),
    el('vscode-radio', { value: 'global', ...(state.bounds === 'global' ? { checked: '' } : {}) }, 'global bounds'),
  );
  bounds.addEventListener('change', (e) => {
    const v = (e.target as HTMLInputElement).value;
    if ((v !== 'layer' && v !== 'global') || v === state.bounds) return;
    state.bounds = v;
    save();
    post({ type: 'view', layer, bounds: v });
    render();
  });
  const rescore = el('vscode-button', { appearance: 'secondary' }, 'Score again');
  rescore.addEventListener('click', () => post({ type: 'rescore' }));

  const next = el('table', { class: 'next', 'aria-label': 'next-token probabilities' }, el('tr', {}, el('th', {}, 'next token'), el('th', {}, 'probability')));
  for (const n of d.next) next.append(el('tr', {}, el('td', { class: 'tok' }, visibleToken(n.token)), el('td', {}, `${(100 * n.p).toFixed(1)}%`)));
  const triggers = el('ol', { class: 'triggers', 'aria-label': 'trigger tokens' });
  for (const t of d.triggers.slice(0, 10)) triggers.append(el('li', { 'data-index': String(t.index) }, el('span', { class: 'tok' }, visibleToken(t.token)), ` ${formatNumber(t.attribution)}`));

  root.append(
    el('header', {},
      el('h2', {}, `Projection onto “${d.direction.name}” (from layer ${d.direction.layer})`),
      el('p', { class: 'metric' }, 'refusal metric ', el('strong', { id: 'refusal-score' }, formatNumber(d.refusalScore)), el('span', { class: 'muted' }, ` (log-odds of a refusal opening; ${d.refusalScore > 0 ? 'likely to refuse' : 'likely to comply'}) · model ${d.model}`)),
    ),
    el('div', { class: 'controls' }, dropdown, bounds, rescore),
    tokenRow(d, layer),
    legend(boundsFor(d, layer)),
    el('h3', {}, 'Token × layer'),
    el('div', { class: 'scroll' }, heatmap(d)),
    el('div', { class: 'columns' },
      el('section', {}, el('h3', {}, 'Next token'), next),
      el('section', {}, el('h3', {}, 'Trigger tokens'), el('p', { class: 'muted' }, d.triggerMethod), triggers),
    ),
    headsSection(d.heads, state.head, (h) => {
      state.head = { layer: h.layer, head: h.head };
      save();
      render();
    }, () => post({ type: 'heads' })),
  );
}

onHostMessage(root, (msg) => {
  if (msg.type !== 'score') return;
  state = { ...state, data: msg.data, layer: state.layer ?? msg.data.direction.layer };
  save();
  render();
});

render();
post({ type: 'ready' });
