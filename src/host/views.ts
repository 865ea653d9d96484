// Engine results turned into what the webviews show (no vscode import: the webview tests record
// their fixtures through these same functions).
import type { EvaluateResult, PromptResult } from '../engine/directions/evaluate';
import type { ExtractResult } from '../engine/directions/extract';
import type { ScoreResult } from '../engine/directions/score';
import type { SpaceResult } from '../engine/directions/space';
import type { DiffRow, DiffViewData, ExplorerViewData, ScoreViewData } from '../protocol';

const nullable = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x : null);

export function scoreView(prompt: string, r: ScoreResult, direction: { name: string; layer: number }, model: string): ScoreViewData {
  const { tokens, instruction, projections, components, refusalScore, next, triggers, triggerMethod } = r;
  return { prompt, tokens, instruction, projections, components, refusalScore, next, triggers, triggerMethod, direction, model };
}

/** Fills a diff row from one prompt's finished evaluation. */
export function finishRow(row: DiffRow, p: Pick<PromptResult, 'completions' | 'kl'>, conditions: DiffViewData['conditions']): void {
  for (const c of conditions) {
    row.texts[c] = p.completions[c]?.text ?? row.texts[c];
    row.refused[c] = p.completions[c]?.refused;
    row.kl[c] = nullable(p.kl[c]);
  }
  row.done = true;
}

/** Refusal rates and mean KL over the prompts finished so far (partial runs show partial rates). */
export function summarise(data: DiffViewData): void {
  const done = data.rows.filter((r) => r.done);
  for (const c of data.conditions) {
    const verdicts = done.map((r) => r.refused[c]).filter((v): v is boolean => v !== undefined);
    data.refusalRate[c] = verdicts.length ? verdicts.filter(Boolean).length / verdicts.length : null;
    const kls = done.map((r) => r.kl[c]).filter((v): v is number => typeof v === 'number');
    data.meanKl[c] = kls.length ? kls.reduce((a, b) => a + b, 0) / kls.length : null;
  }
}

/** The whole-run figures from the engine's final result (the same as summarise when every prompt finished). */
export function finishRun(data: DiffViewData, r: Pick<EvaluateResult, 'refusal_rate' | 'kl'>): void {
  for (const c of data.conditions) {
    data.refusalRate[c] = nullable(r.refusal_rate[c]);
    data.meanKl[c] = nullable(r.kl[c]);
  }
}

export function extractionView(r: ExtractResult): NonNullable<ExplorerViewData['extraction']> {
  const pos = (c: { layer: number; position: number }) => ({ layer: c.layer, position: c.position });
  return {
    layers: r.layers,
    positions: r.positions,
    counts: r.counts,
    candidates: r.candidates.map((c) => ({ ...pos(c), bypass: nullable(c.bypass), induce: nullable(c.induce), kl: nullable(c.kl), norm: nullable(c.norm), ...(c.filtered ? { filtered: c.filtered } : {}) })),
    ...(r.selected ? { selected: pos(r.selected) } : {}),
    ...(r.report ? { report: r.report } : {}),
  };
}

export function spaceView(r: SpaceResult): NonNullable<ExplorerViewData['space']> {
  return {
    mode: r.mode,
    prompts: r.prompts,
    refusedFraction: r.refusedFraction,
    layers: r.layers.map((l) => ({ layer: l.layer, eigenvalues: l.eigenvalues.slice(0, 16), effectiveRank: l.effectiveRank, accuracy: l.accuracy, topTokens: l.topTokens ?? [] })),
    interactions: r.interactions,
    interactionMethod: r.interactionMethod,
  };
}
