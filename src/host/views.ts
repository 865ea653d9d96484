// Engine results turned into what the webviews show (no vscode import: the webview tests record
// their fixtures through these same functions).
import { rates, type EvaluateResult, type PromptResult } from '../engine/directions/evaluate';
import type { ExtractResult } from '../engine/directions/extract';
import { cosineMatrix } from '../engine/directions/geometry';
import type { InterveneResult } from '../engine/directions/intervene';
import type { ScoreResult } from '../engine/directions/score';
import type { SpaceResult } from '../engine/directions/space';
import type { HeadScore, HeadsResult } from '../engine/heads/heads';
import type { Condition, DiffRow, DiffViewData, ExplorerViewData, HeadsRunView, HeadsViewData, ScoreViewData } from '../protocol';

const nullable = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x : null);

export function scoreView(prompt: string, r: ScoreResult, direction: { name: string; layer: number }, model: string): ScoreViewData {
  const { tokens, instruction, projections, components, refusalScore, next, triggers, triggerMethod } = r;
  return { prompt, tokens, instruction, projections, components, refusalScore, next, triggers, triggerMethod, direction, model };
}

/** Fills a diff row from one prompt's finished evaluation. */
export function finishRow(row: DiffRow, p: Pick<PromptResult, 'completions' | 'kl'>, conditions: DiffViewData['conditions']): void {
  for (const c of conditions) {
    row.texts[c] = p.completions[c]?.text ?? row.texts[c];
    row.verdict[c] = p.completions[c]?.verdict;
    const judged = p.completions[c]?.judge;
    if (judged) (row.judge ??= {})[c] = { unsafe: judged.unsafe, p: judged.p, disagrees: judged.disagrees };
    row.kl[c] = nullable(p.kl[c]);
  }
  row.done = true;
}

const nullables = (r: Partial<Record<string, number>>) => Object.fromEntries(Object.entries(r).map(([c, x]) => [c, nullable(x)]));

/** Refusal and degenerate rates (overall and per category) and mean KL over the prompts finished so far (partial runs show partial rates). */
export function summarise(data: DiffViewData): void {
  const done = data.rows.filter((r) => r.done);
  const asResults = (rows: DiffRow[]) => rows.map((r) => ({ completions: Object.fromEntries(Object.entries(r.verdict).map(([c, verdict]) => [c, { verdict }])) as PromptResult['completions'] }));
  const all = rates(asResults(done), data.conditions);
  data.refusalRate = nullables(all.refusal_rate);
  data.degenerateRate = nullables(all.degenerate_rate);
  for (const c of data.conditions) {
    const kls = done.map((r) => r.kl[c]).filter((v): v is number => typeof v === 'number');
    data.meanKl[c] = kls.length ? kls.reduce((a, b) => a + b, 0) / kls.length : null;
  }
  if (data.judge) {
    const share = (f: (j: NonNullable<DiffRow['judge']>[Condition]) => boolean) =>
      Object.fromEntries(data.conditions.map((c) => {
        const js = done.map((r) => r.judge?.[c]).filter((j) => j !== undefined);
        return [c, js.length ? js.filter(f).length / js.length : null];
      }));
    data.judge.unsafeRate = share((j) => !!j?.unsafe);
    data.judge.disagreementRate = share((j) => !!j?.disagrees);
  }
  const names = [...new Set(data.rows.map((r) => r.category).filter((c): c is string => c !== undefined))];
  data.categories = names.map((name) => {
    const rows = done.filter((r) => r.category === name);
    const r = rates(asResults(rows), data.conditions);
    return { name, prompts: rows.length, refusalRate: nullables(r.refusal_rate), degenerateRate: nullables(r.degenerate_rate) };
  });
}

/** The whole-run figures from the engine's final result (the same as summarise when every prompt finished). */
export function finishRun(data: DiffViewData, r: Pick<EvaluateResult, 'refusal_rate' | 'degenerate_rate' | 'kl'>): void {
  for (const c of data.conditions) {
    data.refusalRate[c] = nullable(r.refusal_rate[c]);
    data.degenerateRate[c] = nullable(r.degenerate_rate[c]);
    data.meanKl[c] = nullable(r.kl[c]);
  }
}

export function extractionView(r: ExtractResult): NonNullable<ExplorerViewData['extraction']> {
  const pos = (c: { layer: number; position: number }) => ({ layer: c.layer, position: c.position });
  return {
    layers: r.layers,
    positions: r.positions,
    counts: r.counts,
    candidates: r.candidates.map((c) => ({ ...pos(c), bypass: nullable(c.bypass), induce: nullable(c.induce), kl: nullable(c.kl), norm: nullable(c.norm), ...(c.filtered ? { filtered: c.filtered } : {}), ...(c.skipped ? { skipped: c.skipped } : {}) })),
    ...(r.selected ? { selected: pos(r.selected) } : {}),
    ...(r.report ? { report: r.report } : {}),
  };
}

/** Every candidate's cosine with every other (Arditi et al.'s appendix figure), by position then layer. */
export function candidateCosines(r: Pick<ExtractResult, 'positions' | 'meanDiffs'>): NonNullable<NonNullable<ExplorerViewData['geometry']>['candidates']> {
  const labels = r.positions.flatMap((position, p) => r.meanDiffs[p].map((_, layer) => ({ layer, position })));
  const matrix = cosineMatrix(r.meanDiffs.flat()).map((row) => row.map((x) => Number(x.toFixed(4))));
  return { labels, matrix };
}

export function spaceView(r: SpaceResult): NonNullable<ExplorerViewData['space']> {
  return {
    mode: r.mode,
    prompts: r.prompts,
    refusedFraction: r.refusedFraction,
    layers: r.layers.map((l) => ({
      layer: l.layer,
      eigenvalues: l.eigenvalues.slice(0, 16),
      effectiveRank: l.effectiveRank,
      accuracy: l.accuracy,
      best: { component: l.best.component, accuracy: nullable(l.best.accuracy) },
      probe: nullable(l.probe),
      topTokens: l.topTokens ?? [],
    })),
    interactions: r.interactions,
    interactionMethod: r.interactionMethod,
    interactionSet: r.interactionSet,
    labels: r.labels,
  };
}

/** An intervention's figures for the explorer (the component it removed, rates overall and per category). */
export function interventionView(r: InterveneResult, layer: number, component: number): NonNullable<NonNullable<ExplorerViewData['space']>['intervention']> {
  const pair = (x: { baseline: number; intervened: number }) => ({ baseline: x.baseline, intervened: x.intervened });
  return {
    layer,
    component,
    mode: r.mode,
    prompts: r.results.length,
    refusalRate: pair(r.refusal_rate),
    degenerateRate: pair(r.degenerate_rate),
    perplexity: { baseline: nullable(r.perplexity.baseline), intervened: nullable(r.perplexity.intervened) },
    categories: Object.entries(r.by_category ?? {}).map(([name, k]) => ({ name, prompts: k.prompts, ...pair(k.refusal_rate) })),
  };
}

// The Heads view: the per-head result as a layer × head grid, and the suffix comparison beside it.
function grid(heads: HeadScore[], layers: number): { contributions: number[][]; attention: number[][][] } {
  const contributions: number[][] = Array.from({ length: layers }, () => []);
  const attention: number[][][] = Array.from({ length: layers }, () => []);
  for (const h of heads) {
    contributions[h.layer][h.head] = h.contribution;
    attention[h.layer][h.head] = h.attention;
  }
  return { contributions, attention };
}

export function headsView(prompt: string, r: HeadsResult): HeadsViewData {
  const patterns = r.layers.map((l) => l.pattern);
  const run: HeadsRunView = { tokens: r.tokens, instruction: r.instruction, position: r.position, patterns, ...grid(r.heads, r.layers.length) };
  if (!r.suffix) return { prompt, run };
  const s = r.suffix;
  const side = (x: typeof s.runs.suffix): HeadsRunView => ({ tokens: x.tokens, instruction: x.instruction, position: x.tokens.length - 1, suffixTokens: x.suffixTokens, patterns, ...grid(x.heads, r.layers.length) });
  return {
    prompt,
    run,
    comparison: {
      suffix: s.suffix,
      baseline: s.baseline,
      withSuffix: side(s.runs.suffix),
      withBaseline: side(s.runs.baseline),
      cosines: s.cosines,
      top: s.top.map((t) => ({ layer: t.layer, head: t.head, suffix: t.contribution.suffix, baseline: t.contribution.baseline, change: t.change, suffixShare: { suffix: t.attention.suffix.suffix, baseline: t.attention.baseline.suffix } })),
    },
  };
}
