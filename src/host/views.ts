// Engine results turned into what the webviews show (no vscode import: the webview tests record
// their fixtures through these same functions).
import { rates, type EvaluateResult, type PromptResult } from '../engine/directions/evaluate';
import type { ExtractResult } from '../engine/directions/extract';
import type { InterveneResult } from '../engine/directions/intervene';
import type { ScoreResult } from '../engine/directions/score';
import type { SpaceResult } from '../engine/directions/space';
import type { Condition, DiffRow, DiffViewData, ExplorerViewData, ScoreViewData } from '../protocol';

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
