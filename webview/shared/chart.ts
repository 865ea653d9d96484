// Small SVG charts drawn with DOM calls (no inline styles, so the strict CSP holds); colours come
// from theme variables through the s0..s4 classes in the panel's stylesheet.
const NS = 'http://www.w3.org/2000/svg';

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

export interface Series {
  name: string;
  /** One value per x (layer); null where there is none. */
  values: (number | null)[];
}

const W = 300;
const H = 140;
const PAD = { left: 34, right: 6, top: 8, bottom: 18 };

function frame(label: string): SVGSVGElement {
  return svg('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label, preserveAspectRatio: 'none' });
}

function range(values: number[]): [number, number] {
  const finite = values.filter(Number.isFinite);
  const lo = Math.min(0, ...finite);
  let hi = Math.max(0, ...finite);
  if (hi === lo) hi = lo + 1;
  return [lo, hi];
}

function axes(chart: SVGSVGElement, lo: number, hi: number, n: number, xLabel: string): void {
  const y = (v: number) => PAD.top + ((hi - v) / (hi - lo)) * (H - PAD.top - PAD.bottom);
  chart.append(
    svg('line', { class: 'axis', x1: PAD.left, x2: W - PAD.right, y1: y(0), y2: y(0) }),
    svg('line', { class: 'axis', x1: PAD.left, x2: PAD.left, y1: PAD.top, y2: H - PAD.bottom }),
    svg('text', { x: 2, y: PAD.top + 8 }, hi.toPrecision(3)),
    svg('text', { x: 2, y: H - PAD.bottom }, lo.toPrecision(3)),
    svg('text', { x: PAD.left, y: H - 4 }, `${xLabel} 0`),
    svg('text', { x: W - PAD.right - 24, y: H - 4 }, String(n - 1)),
  );
}

/** The y range lineChart gives these series (for small multiples drawn on one scale). */
export function seriesRange(series: Series[]): [number, number] {
  return range(series.flatMap((s) => s.values.filter((v): v is number => v !== null)));
}

/** Lines over x = 0..n−1 (layers), one per series, with a point per value and a tooltip; `yRange` shares a scale between charts. */
export function lineChart(series: Series[], label: string, xLabel = 'layer', yRange = seriesRange(series)): SVGSVGElement {
  const n = Math.max(1, ...series.map((s) => s.values.length));
  const [lo, hi] = yRange;
  const x = (i: number) => PAD.left + (n === 1 ? 0 : (i / (n - 1)) * (W - PAD.left - PAD.right));
  const y = (v: number) => PAD.top + ((hi - v) / (hi - lo)) * (H - PAD.top - PAD.bottom);
  const chart = frame(label);
  axes(chart, lo, hi, n, xLabel);
  series.forEach((s, k) => {
    const cls = `s${k % 5}`;
    const pts = s.values.map((v, i) => (v === null || !Number.isFinite(v) ? null : ([x(i), y(v)] as const)));
    const d = pts.map((p, i) => (p ? `${i === 0 || !pts[i - 1] ? 'M' : 'L'}${p[0].toFixed(1)},${p[1].toFixed(1)}` : '')).join('');
    if (d) chart.append(svg('path', { class: `line ${cls}`, d }));
    pts.forEach((p, i) => {
      if (!p) return;
      const dot = svg('circle', { class: cls, cx: p[0], cy: p[1], r: 2 });
      dot.append(svg('title', {}, `${s.name}, ${xLabel} ${i}: ${s.values[i]!.toPrecision(4)}`));
      chart.append(dot);
    });
  });
  return chart;
}

/** Bars for values (e.g. an eigenvalue spectrum), each with a tooltip. */
export function barChart(values: number[], label: string, xLabel: string): SVGSVGElement {
  const [lo, hi] = range(values);
  const n = Math.max(1, values.length);
  const slot = (W - PAD.left - PAD.right) / n;
  const y = (v: number) => PAD.top + ((hi - v) / (hi - lo)) * (H - PAD.top - PAD.bottom);
  const chart = frame(label);
  axes(chart, lo, hi, n, xLabel);
  values.forEach((v, i) => {
    const bar = svg('rect', { class: 'bar', x: PAD.left + i * slot + 1, width: Math.max(1, slot - 2), y: Math.min(y(v), y(0)), height: Math.abs(y(v) - y(0)) });
    bar.append(svg('title', {}, `${xLabel} ${i}: ${v.toPrecision(4)}`));
    chart.append(bar);
  });
  return chart;
}
