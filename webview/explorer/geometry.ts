// The explorer's Direction geometry section: the candidates' cosine matrix (every layer and
// position of the last extraction, Arditi et al.'s appendix), the active direction against another
// direction file, and the active direction's logit lens. Renders host data; buttons ask the host.
import type { ExplorerViewData, WebviewToHost } from '../../src/protocol';
import { el, visibleToken } from '../shared/dom';
import { colour, formatNumber } from '../shared/scale';

type Geometry = NonNullable<ExplorerViewData['geometry']>;

function candidateMatrix(c: NonNullable<Geometry['candidates']>): HTMLElement {
  const label = (i: number) => `L${c.labels[i].layer} p${c.labels[i].position}`;
  const table = el('table', { class: 'matrix cosine-matrix', 'aria-label': 'cosine similarity of the candidate directions' });
  table.append(el('caption', {}, 'cos(candidate, candidate): rows and columns by position, then layer'), el('tr', {}, el('th', {}, ''), ...c.labels.map((_, j) => el('th', { scope: 'col', title: label(j) }, String(c.labels[j].layer)))));
  c.matrix.forEach((row, i) => {
    const tr = el('tr', {}, el('th', { scope: 'row', title: label(i) }, label(i)));
    row.forEach((v, j) => {
      const td = el('td', { title: `${label(i)} · ${label(j)}: ${formatNumber(v)}`, 'data-i': String(i), 'data-j': String(j), 'data-value': String(v) });
      td.style.backgroundColor = colour(v, { max: 1 });
      tr.append(td);
    });
    table.append(tr);
  });
  return table;
}

function comparison(c: NonNullable<Geometry['comparison']>): HTMLElement {
  const name = c.file.split(/[\\/]/).pop()!;
  const rows = c.layers.map((l) => el('tr', { 'data-layer': String(l.layer) }, el('td', {}, `layer ${l.layer}`), el('td', {}, formatNumber(l.cosine))));
  return el('div', { class: 'comparison' },
    el('p', {}, 'cos(active, ', el('strong', {}, `${c.other.name}`), ` @ layer ${c.other.layer} of ${name}) = `, el('strong', { id: 'compare-cosine' }, formatNumber(c.selected, 4)), el('span', { class: 'muted' }, ` · made on ${c.model}`)),
    ...(rows.length ? [el('table', { class: 'compare-layers', 'aria-label': 'cosine per layer' }, el('tr', {}, el('th', {}, 'layer'), el('th', {}, 'cosine')), ...rows)] : []),
  );
}

function lens(l: NonNullable<Geometry['lens']>): HTMLElement {
  const chips = (ts: { token: string; value: number }[], cls: string) => el('div', { class: `lens-tokens ${cls}` }, ...ts.map((t) => el('span', { class: 'chip', title: formatNumber(t.value) }, visibleToken(t.token))));
  return el('div', { class: 'lens' }, el('p', { class: 'muted' }, `${l.direction}: ${l.method}`), el('h4', {}, 'Promotes'), chips(l.top, 'top'), el('h4', {}, 'Suppresses'), chips(l.bottom, 'bottom'));
}

export function geometrySection(d: ExplorerViewData, busy: boolean, post: (m: WebviewToHost) => void): HTMLElement {
  const g = d.geometry ?? {};
  const button = (label: string, msg: WebviewToHost, id: string) => {
    const b = el('vscode-button', { appearance: 'secondary', id, ...(busy || !d.active ? { disabled: '' } : {}) }, label);
    b.addEventListener('click', () => post(msg));
    return b;
  };
  const section = el('section', { 'aria-label': 'direction geometry' }, el('h3', {}, 'Direction geometry'), el('div', { class: 'controls' }, button('Compare with a direction file…', { type: 'compareFile' }, 'compare-file'), button('Logit lens', { type: 'logitLens' }, 'logit-lens')));
  if (g.comparison) section.append(comparison(g.comparison));
  if (g.lens) section.append(lens(g.lens));
  if (g.candidates) section.append(el('h4', {}, 'Candidates’ cosine similarity'), el('div', { class: 'scroll' }, candidateMatrix(g.candidates)));
  return section;
}
