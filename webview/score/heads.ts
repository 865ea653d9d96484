// The Score panel's Heads view: a layer × head heatmap of each head's direct contribution to the
// direction at the position (red: towards refusal), the selected head's attention over the tokens,
// the top heads; with a suffix comparison, both prompts side by side with the per-layer cosines and
// the top heads' change. Renders host data only.
import type { HeadsRunView, HeadsViewData } from '../../src/protocol';
import { el, visibleToken } from '../shared/dom';
import { boundsOf, colour, formatNumber, type Bounds } from '../shared/scale';

export interface HeadPick {
  layer: number;
  head: number;
}

const pct = (x: number) => `${(100 * x).toFixed(0)}%`;

/** Heads ranked by contribution, highest first. */
function ranked(run: HeadsRunView): (HeadPick & { value: number })[] {
  return run.contributions.flatMap((row, layer) => row.map((value, head) => ({ layer, head, value }))).sort((a, b) => b.value - a.value);
}

function heatmap(run: HeadsRunView, b: Bounds, picked: HeadPick, label: string, pick: (h: HeadPick) => void): HTMLElement {
  const table = el('table', { class: 'heads-grid', 'aria-label': `contribution of each head, ${label}` });
  const heads = run.contributions[0]?.length ?? 0;
  const head = el('tr', {}, el('th', { scope: 'col' }, 'layer \\ head'));
  for (let h = 0; h < heads; h++) head.append(el('th', { scope: 'col' }, String(h)));
  table.append(head);
  run.contributions.forEach((row, layer) => {
    const tr = el('tr', {}, el('th', { scope: 'row' }, String(layer)));
    row.forEach((v, h) => {
      const selected = layer === picked.layer && h === picked.head;
      const td = el('td', {
        class: `head-cell${selected ? ' selected' : ''}`,
        tabindex: '0',
        role: 'button',
        title: `layer ${layer} head ${h}: ${formatNumber(v)}`,
        'aria-label': `layer ${layer} head ${h}: contribution ${formatNumber(v)}`,
        'data-layer': String(layer),
        'data-head': String(h),
        'data-value': String(v),
      }, formatNumber(v, 2));
      td.style.backgroundColor = colour(v, b);
      td.addEventListener('click', () => pick({ layer, head: h }));
      td.addEventListener('keydown', (e) => e.key === 'Enter' && pick({ layer, head: h }));
      tr.append(td);
    });
    table.append(tr);
  });
  return table;
}

/** The picked head's attention from the position over every token (blue: more attention). */
function attentionRow(run: HeadsRunView, picked: HeadPick, label: string): HTMLElement {
  const weights = run.attention[picked.layer]?.[picked.head] ?? [];
  const box = el('div', { class: 'attention', 'data-layer': String(picked.layer), 'data-head': String(picked.head) });
  if (!weights.length) {
    box.append(el('p', { class: 'muted' }, `No attention pattern for layer ${picked.layer}: ${run.patterns[picked.layer]}`));
    return box;
  }
  const max = Math.max(...weights) || 1;
  const row = el('div', { class: 'tokens', role: 'list', 'aria-label': `attention of layer ${picked.layer} head ${picked.head} from token ${run.position}, ${label}` });
  run.tokens.forEach((t, i) => {
    const inSuffix = run.suffixTokens && i >= run.suffixTokens[0] && i < run.suffixTokens[1];
    const template = i < run.instruction[0] || i >= run.instruction[1];
    const span = el('span', {
      class: `token attn${template ? ' template' : ''}${inSuffix ? ' suffix' : ''}${i === run.position ? ' query' : ''}`,
      role: 'listitem',
      title: `${JSON.stringify(t)} (token ${i}): ${pct(weights[i] ?? 0)} of the attention`,
      'data-index': String(i),
      'data-weight': String(weights[i] ?? 0),
    }, visibleToken(t));
    span.style.backgroundColor = `color-mix(in srgb, var(--vscode-charts-blue, #3794ff) ${Math.round(((weights[i] ?? 0) / max) * 85)}%, transparent)`;
    row.append(span);
  });
  box.append(el('p', { class: 'muted' }, `attention of L${picked.layer}H${picked.head} from token ${run.position} (${JSON.stringify(run.tokens[run.position])}); pattern: ${run.patterns[picked.layer]}`), row);
  return box;
}

function topList(run: HeadsRunView, pick: (h: HeadPick) => void): HTMLElement {
  const list = el('ol', { class: 'top-heads', 'aria-label': 'top heads by contribution' });
  for (const h of ranked(run).slice(0, 8)) {
    const weights = run.attention[h.layer]?.[h.head] ?? [];
    const peak = weights.length ? weights.indexOf(Math.max(...weights)) : -1;
    const item = el('li', { 'data-layer': String(h.layer), 'data-head': String(h.head), tabindex: '0' }, el('strong', {}, `L${h.layer}H${h.head}`), ` ${formatNumber(h.value)}`, peak >= 0 ? el('span', { class: 'muted' }, ` · attends to ${visibleToken(run.tokens[peak])} (${pct(weights[peak])})`) : '');
    item.addEventListener('click', () => pick(h));
    list.append(item);
  }
  return list;
}

function comparisonSummary(c: NonNullable<HeadsViewData['comparison']>, pick: (h: HeadPick) => void): HTMLElement {
  const base = c.baseline ? `“${c.baseline}”` : 'no suffix';
  const cos = el('table', { class: 'cosines', 'aria-label': 'cosine with the direction per layer' }, el('tr', {}, el('th', {}, 'layer'), el('th', {}, `with “${c.suffix}”`), el('th', {}, `with ${base}`)));
  c.cosines.forEach((x, i) => cos.append(el('tr', { 'data-layer': String(x.layer) }, el('td', {}, i === c.cosines.length - 1 ? 'final' : String(x.layer)), el('td', {}, formatNumber(x.suffix)), el('td', {}, formatNumber(x.baseline)))));
  const top = el('table', { class: 'suffix-top', 'aria-label': 'top heads and what the suffix does to them' }, el('tr', {}, el('th', {}, 'head'), el('th', {}, base), el('th', {}, `“${c.suffix}”`), el('th', {}, 'change'), el('th', {}, 'attention on suffix')));
  for (const t of c.top) {
    const tr = el('tr', { 'data-layer': String(t.layer), 'data-head': String(t.head), tabindex: '0' }, el('td', {}, `L${t.layer}H${t.head}`), el('td', {}, formatNumber(t.baseline)), el('td', {}, formatNumber(t.suffix)), el('td', { class: t.change < 0 ? 'down' : 'up' }, formatNumber(t.change)), el('td', {}, `${pct(t.suffixShare.baseline)} → ${pct(t.suffixShare.suffix)}`));
    tr.addEventListener('click', () => pick(t));
    top.append(tr);
  }
  return el('div', { class: 'columns' }, el('section', {}, el('h4', {}, 'Cosine of the last token with the direction'), cos), el('section', {}, el('h4', {}, `Top heads (by contribution with ${base})`), top));
}

/** The Heads view, or the button that asks for it. */
export function headsSection(data: HeadsViewData | undefined, picked: HeadPick | undefined, onPick: (h: HeadPick) => void, request: () => void): HTMLElement {
  const section = el('section', { class: 'heads', 'aria-label': 'attention heads' }, el('h3', {}, 'Attention heads'));
  if (!data) {
    const button = el('vscode-button', { appearance: 'secondary', class: 'attribute-heads' }, 'Attribute to heads');
    button.addEventListener('click', request);
    section.append(el('p', { class: 'muted' }, "Each head's direct contribution to the direction at the last token (z·W_O·r̂), and where it attends."), button);
    return section;
  }
  const c = data.comparison;
  const runs: [HeadsRunView, string][] = c ? [[c.withSuffix, `with “${c.suffix}”`], [c.withBaseline, c.baseline ? `with “${c.baseline}”` : 'without suffix']] : [[data.run, 'this prompt']];
  const first = ranked(runs.at(-1)![0])[0];
  const sel = picked && picked.layer < data.run.contributions.length && picked.head < (data.run.contributions[0]?.length ?? 0) ? picked : first;
  // One colour scale for both sides of a comparison, so their cells compare directly.
  const b = boundsOf(runs.flatMap(([r]) => r.contributions.flat()));
  if (c) section.append(comparisonSummary(c, onPick));
  const sides = el('div', { class: c ? 'side-by-side' : '' });
  for (const [run, label] of runs) {
    sides.append(el('div', { class: 'heads-side', 'data-side': label }, ...(c ? [el('h4', {}, label)] : []), el('div', { class: 'scroll' }, heatmap(run, b, sel, label, onPick)), attentionRow(run, sel, label), ...(c ? [] : [el('h4', {}, 'Top heads'), topList(run, onPick)])));
  }
  section.append(sides);
  return section;
}
