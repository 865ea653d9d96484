// Direction Explorer (activity-bar view): the active direction, extraction from prompt sets with its
// candidate table and per-layer scores, and the safety residual space (spectrum, effective rank,
// components with their trigger tokens, the promote/suppress matrix). Buttons ask the host; the
// engine computes.
import { provideVSCodeDesignSystem, vsCodeButton, vsCodeDropdown, vsCodeOption, vsCodeProgressRing } from '@vscode/webview-ui-toolkit';
import type { CandidateView, ExplorerViewData, WebviewToHost } from '../../src/protocol';
import { barChart, lineChart, seriesRange } from '../shared/chart';
import { el, indexDropdown, onHostMessage, visibleToken, vscode } from '../shared/dom';
import { boundsOf, colour, formatNumber } from '../shared/scale';
import { geometrySection } from './geometry';

provideVSCodeDesignSystem().register(vsCodeButton(), vsCodeDropdown(), vsCodeOption(), vsCodeProgressRing());

interface ViewState {
  data?: ExplorerViewData;
  spaceLayer?: number;
}

const root = document.getElementById('root')!;
let state: ViewState = (vscode.getState() as ViewState | undefined) ?? {};
const post = (m: WebviewToHost) => vscode.postMessage(m);
const save = () => vscode.setState(state);

function button(label: string, msg: WebviewToHost, opts: { secondary?: boolean; disabled?: boolean; id?: string } = {}): HTMLElement {
  const b = el('vscode-button', { ...(opts.secondary ? { appearance: 'secondary' } : {}), ...(opts.disabled ? { disabled: '' } : {}), ...(opts.id ? { id: opts.id } : {}) }, label);
  b.addEventListener('click', () => post(msg));
  return b;
}

const fileLabel = (p: string, fallback: string) => (p ? p.split(/[\\/]/).pop()! : fallback);

function activeCard(d: ExplorerViewData, busy: boolean): HTMLElement {
  const a = d.active;
  return el('section', { 'aria-label': 'active direction' },
    el('h3', {}, 'Active direction'),
    a
      ? el('div', { class: 'card', id: 'active' }, el('strong', {}, a.name), ` · layer ${a.layer} · position ${a.position}`, el('div', { class: 'muted' }, a.method), ...(a.warning ? [el('div', { class: 'warning', role: 'note' }, a.warning)] : []))
      : el('p', { class: 'muted', id: 'active' }, 'None yet: extract one below or import a direction file.'),
    el('div', { class: 'controls' },
      button('Import…', { type: 'import' }, { secondary: true }),
      button('Export…', { type: 'export' }, { secondary: true, disabled: !a }),
      button('Export abliterated model…', { type: 'exportModel' }, { secondary: true, disabled: !a || busy }),
    ),
  );
}

/** A candidate's row; a filtered one gets a second row under it with the reason in full (a side bar has no room for a column). */
function candidateRows(c: CandidateView, selected: boolean): HTMLElement[] {
  // A score fast selection skipped shows as '–' (not NaN: it was not computed, not undefined).
  const cells = [c.bypass, c.induce, c.kl, c.norm].map((v, i) => el('td', {}, v === null && c.skipped ? '–' : formatNumber(v ?? NaN, i === 2 ? 4 : 2)));
  const tr = el('tr', {
    class: `cand${c.filtered ? ' filtered' : ''}${selected ? ' selected' : ''}`,
    tabindex: '0',
    role: 'button',
    'aria-label': `layer ${c.layer}, position ${c.position}${c.filtered ? `, filtered: ${c.filtered}` : ''}${selected ? ', active' : ''}`,
    'data-layer': String(c.layer),
    'data-position': String(c.position),
    title: c.filtered ? `filtered: ${c.filtered}` : `${c.skipped ? `${c.skipped}; ` : ''}use this candidate as the active direction`,
  }, el('td', {}, `${selected ? '★ ' : ''}${c.layer}`), el('td', {}, String(c.position)), ...cells);
  const use = () => post({ type: 'useCandidate', layer: c.layer, position: c.position });
  tr.addEventListener('click', use);
  tr.addEventListener('keydown', (e) => (e.key === 'Enter' || e.key === ' ') && use());
  if (!c.filtered) return [tr];
  const why = el('tr', { class: 'why filtered' }, el('td', { colspan: '6', class: 'reason' }, `filtered: ${c.filtered}`));
  why.addEventListener('click', use);
  return [tr, why];
}

function extraction(d: ExplorerViewData, busy: boolean): HTMLElement {
  const sets = el('table', { class: 'sets', 'aria-label': 'prompt sets' });
  for (const which of ['harmful', 'harmless'] as const) {
    sets.append(el('tr', {}, el('td', {}, which), el('td', { class: 'muted' }, fileLabel(d.promptSets[which], 'default set')), el('td', {}, button('Choose…', { type: 'pickPrompts', which }, { secondary: true }))));
  }
  const section = el('section', { 'aria-label': 'extraction' }, el('h3', {}, 'Extract (difference in means)'), sets, el('div', { class: 'controls' }, button('Extract', { type: 'extract' }, { disabled: busy, id: 'extract' })));
  const x = d.extraction;
  if (!x) return section;
  section.append(el('p', { class: 'muted' }, `${x.candidates.length} candidates over ${x.layers} layers × ${x.positions.length} positions; prompts kept: ${promptCounts(x.counts)}.`));
  if (x.report) section.append(el('p', { class: 'status error', role: 'alert' }, x.report));
  const series = x.positions.map((p) => ({ name: `position ${p}`, values: Array.from({ length: x.layers }, (_, l) => x.candidates.find((c) => c.layer === l && c.position === p)?.bypass ?? null) }));
  // One small chart per position on a shared scale: lines of nearby positions overlap on one axis.
  const shared = seriesRange(series);
  section.append(
    el('h4', {}, 'Bypass score per layer (lower: ablation removes refusal better)'),
    el('div', { class: 'multiples' }, ...series.map((s) => el('figure', {}, el('figcaption', {}, s.name), lineChart([s], `bypass score per layer at ${s.name}`, 'layer', shared)))),
  );
  const table = el('table', { class: 'candidates', 'aria-label': 'candidate directions' }, el('tr', {}, ...['layer', 'pos', 'bypass', 'induce', 'KL', 'norm'].map((h) => el('th', { scope: 'col' }, h))));
  const order = [...x.candidates].sort((a, b) => Number(!!a.filtered) - Number(!!b.filtered) || (a.bypass ?? Infinity) - (b.bypass ?? Infinity));
  for (const c of order) table.append(...candidateRows(c, x.selected?.layer === c.layer && x.selected?.position === c.position));
  const skipped = x.candidates.filter((c) => c.skipped).length;
  if (skipped) {
    section.append(
      el('p', { class: 'muted', id: 'skipped-note' }, `${skipped} candidates were not fully scored: their scores cannot change the selection ('–').`),
      el('div', { class: 'controls' }, button(`Score the ${skipped} skipped candidates`, { type: 'scoreSkipped' }, { secondary: true, disabled: busy, id: 'score-skipped' })),
    );
  }
  section.append(el('div', { class: 'scroll' }, table));
  return section;
}

/** The last intervention run from a component's row: refusal rates without and with it, overall and per prompt set. */
function intervention(s: NonNullable<ExplorerViewData['space']>): HTMLElement | string {
  const r = s.intervention;
  if (!r) return '';
  const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
  const table = el('table', { class: 'intervention', 'aria-label': 'refusal rate without and with the intervention' }, el('tr', {}, el('th', {}, 'prompts'), el('th', {}, 'baseline'), el('th', {}, `C${r.component}@${r.layer} removed`)));
  for (const k of [{ name: 'all', prompts: r.prompts, baseline: r.refusalRate.baseline, intervened: r.refusalRate.intervened }, ...r.categories]) {
    table.append(el('tr', { 'data-set': k.name }, el('td', {}, `${k.name} (${k.prompts})`), el('td', { class: 'baseline' }, pct(k.baseline)), el('td', { class: 'intervened' }, pct(k.intervened))));
  }
  const cost = `perplexity of the baseline's answers ${formatNumber(r.perplexity.baseline ?? NaN, 3)} → ${formatNumber(r.perplexity.intervened ?? NaN, 3)}; degenerate ${pct(r.degenerateRate.baseline)} → ${pct(r.degenerateRate.intervened)}`;
  return el('div', { id: 'intervention' }, el('h4', {}, `Refusal with C${r.component}@${r.layer} removed at the last token`), table, el('p', { class: 'muted' }, cost));
}

function space(d: ExplorerViewData, busy: boolean): HTMLElement {
  const section = el('section', { 'aria-label': 'safety residual space' }, el('h3', {}, 'Safety residual space'), el('div', { class: 'controls' }, button('Compute', { type: 'space' }, { disabled: busy, id: 'compute-space' })));
  const s = d.space;
  if (!s) return section;
  const layers = s.layers;
  const layer = Math.min(state.spaceLayer ?? Math.floor(layers.length / 2), layers.length - 1);
  const L = layers[layer];
  section.append(el('p', { class: 'muted', id: 'space-labels' }, `${s.mode}; ${s.prompts} prompts, ${(100 * s.refusedFraction).toFixed(0)}% refused`, s.labels ? ` (labels: ${s.labels.rule}).` : '.', ...(s.labels?.note ? [el('br'), `Note: ${s.labels.note}.`] : [])));
  const taus = Object.keys(layers[0]?.effectiveRank ?? {});
  const shown = taus.filter((t) => t === '0.5' || t === '0.9');
  section.append(el('h4', {}, 'Effective rank per layer'), lineChart(shown.map((t) => ({ name: `τ = ${t}`, values: layers.map((l) => l.effectiveRank[t] ?? null) })), 'effective rank per layer'), el('div', { class: 'legend-row' }, ...shown.map((t, k) => el('span', {}, el('span', { class: `swatch s${k}` }), `τ = ${t}`))));
  const dropdown = indexDropdown(layers.map((l) => `layer ${l.layer}`), layer, { 'aria-label': 'layer to inspect', id: 'space-layer' }, (picked) => {
    state.spaceLayer = picked;
    save();
    render();
  });
  section.append(el('div', { class: 'controls' }, dropdown));
  section.append(el('h4', {}, `Spectrum at layer ${L.layer}`), barChart(L.eigenvalues, `eigenvalues at layer ${L.layer}`, 'component'));
  const comps = el('table', { class: 'components', 'aria-label': `components at layer ${L.layer}` }, el('tr', {}, el('th', {}, 'comp.'), el('th', { title: 'refusal-prediction accuracy' }, 'acc.'), el('th', {}, 'trigger tokens'), el('th', {}, '')));
  L.accuracy.forEach((acc, k) => {
    const remove = button('Remove', { type: 'intervene', layer: L.layer, component: k }, { secondary: true, disabled: busy, id: `intervene-${k}` });
    remove.title = `remove C${k} at the last token (every layer) and compare refusal rates (Pan et al.'s intervention)`;
    // Tokens wrap as whole chips rather than running off a narrow side bar.
    const tokens = el('td', { class: 'tok' }, ...(L.topTokens[k] ?? []).map((t) => el('span', { class: 'chip', title: JSON.stringify(t) }, visibleToken(t))));
    comps.append(el('tr', { 'data-component': String(k) }, el('td', {}, `C${k}`), el('td', {}, formatNumber(acc, 2)), tokens, el('td', {}, remove)));
  });
  const baselines = L.best && L.best.component >= 0 ? `best component C${L.best.component} (${formatNumber(L.best.accuracy ?? NaN, 2)}); ` : '';
  section.append(el('h4', {}, 'Components'), comps, el('p', { class: 'muted', id: 'probe' }, `${baselines}logistic probe ${formatNumber(L.probe ?? NaN, 2)} (held-out half, the baseline to beat)`), intervention(s));
  const inter = s.interactions.find((m) => m.from === L.layer);
  if (inter && inter.matrix.length) {
    const b = boundsOf(inter.matrix.flat());
    const table = el('table', { class: 'matrix', 'aria-label': `interactions from layer ${inter.from} to ${inter.to}: rows source components, columns target components` });
    // Short headers (the layers are in the caption and the tooltips), so the matrix fits a side bar.
    table.append(
      el('caption', {}, `rows: layer ${inter.from}, columns: layer ${inter.to}`),
      el('tr', {}, el('th', {}, ''), ...inter.matrix[0].map((_, k) => el('th', { scope: 'col', title: `C${k}@${inter.to}` }, `C${k}`))),
    );
    inter.matrix.forEach((row, j) => {
      const tr = el('tr', {}, el('th', { scope: 'row', title: `C${j}@${inter.from}` }, `C${j}`));
      row.forEach((v, k) => {
        const td = el('td', { title: `C${j}@${inter.from} → C${k}@${inter.to}: ${formatNumber(v)} (${v > 0 ? 'promotes' : 'suppresses'})` }, formatNumber(v, 1));
        td.style.backgroundColor = colour(v, b);
        tr.append(td);
      });
      table.append(tr);
    });
    section.append(el('h4', {}, `Promote (red) / suppress (blue): layer ${inter.from} → ${inter.to}`), el('div', { class: 'scroll' }, table), el('p', { class: 'muted', id: 'interaction-method' }, s.interactionMethod, s.interactionSet ? `; measured on ${s.interactionSet.prompts} ${s.interactionSet.source} (sha256 ${s.interactionSet.hash.slice(0, 12)}…): the sign and size depend on them` : ''));
  }
  return section;
}

/** "harmfulTrain" → "harmful (train)": the engine's keys, in words. */
function promptCounts(counts: Record<string, number>): string {
  return Object.entries(counts)
    .map(([k, v]) => {
      const m = /^(.*?)(Train|Val|Test)$/.exec(k);
      return `${v} ${m ? `${m[1]} (${m[2] === 'Val' ? 'validation' : m[2].toLowerCase()})` : k}`;
    })
    .join(', ');
}

/** What the direction methods take from the chat template, folded away under the model line. */
function chatTemplate(c: NonNullable<ExplorerViewData['chat']>): HTMLElement {
  const tokens = (strings: string[], ids: number[]) => strings.map((t, i) => `${visibleToken(t)} (${ids[i]})`).join('  ');
  const t = c.template;
  const row = (label: string, value: string) => el('div', {}, el('span', { class: 'muted' }, `${label}: `), el('code', {}, value));
  return el(
    'details',
    { id: 'chat-template' },
    el('summary', {}, 'Chat template'),
    row('Post-instruction tokens', tokens(c.postInstructionTokens, c.postInstructionTokenIds)),
    row('Refusal tokens', tokens(c.refusalTokens, c.refusalTokenIds)),
    row('System prompt', `${t.system}${t.systemPrompt ? `: ${t.systemPrompt}` : ''}`),
    row('enable_thinking', t.enableThinking === null ? 'not in the template' : String(t.enableThinking)),
    row('Date', t.date ?? 'not in the template'),
    row('Example prompt', visibleToken(c.examplePrompt)),
  );
}

function render(): void {
  root.replaceChildren();
  const d = state.data;
  if (!d) {
    root.append(el('p', { class: 'muted' }, 'Loading…'));
    return;
  }
  const busy = !!d.task;
  root.append(el('p', { class: 'muted', id: 'model' }, d.model ? `Model: ${d.model}` : 'No model loaded yet: any command loads the configured one.'));
  if (d.chat) root.append(chatTemplate(d.chat));
  if (d.task) {
    root.append(
      el('div', { class: 'task', role: 'status' },
        el('vscode-progress-ring', {}),
        el('span', {}, `${d.task.message}${d.task.fraction !== undefined ? ` (${Math.round(100 * d.task.fraction)}%)` : ''}`),
        button('Cancel', { type: 'cancel' }, { secondary: true, id: 'cancel' }),
      ),
    );
  }
  root.append(activeCard(d, busy), extraction(d, busy), space(d, busy), geometrySection(d, busy, post));
}

/** The results a running task will bring, scrolled into view when they arrive (they land below the fold of a side bar). */
let revealAfter: { key: 'space' | 'extraction'; selector: string } | undefined;

onHostMessage(root, (msg) => {
  if (msg.type !== 'explorer') return;
  const before = state.data;
  state = { ...state, data: msg.data };
  save();
  render();
  const task = msg.data.task?.kind;
  if (task) revealAfter = task === 'space' ? { key: 'space', selector: '[aria-label="safety residual space"]' } : task === 'extract' ? { key: 'extraction', selector: '.multiples' } : undefined;
  else if (revealAfter && msg.data[revealAfter.key] && JSON.stringify(msg.data[revealAfter.key]) !== JSON.stringify(before?.[revealAfter.key])) {
    root.querySelector(revealAfter.selector)?.scrollIntoView({ block: 'start' });
    revealAfter = undefined;
  }
});

render();
post({ type: 'ready' });
