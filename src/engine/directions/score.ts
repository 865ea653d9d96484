// Scoring a prompt against a direction: per-token projections of resid_pre onto the unit direction
// at every layer (all positions: an extension of Pan et al., who use the last token only), the
// refusal metric and next-token probabilities, and trigger tokens by occlusion.
import { throwIfCancelled } from '../cancel';
import type { Past } from '../runtime/decoder';
import { defaultMaxTokens, forwardChunked, forwardVariants, kvBytesPerToken } from '../runtime/forward';
import { resolveHooks } from '../runtime/hooks';
import { toFloat32 } from '../runtime/tensors';
import { checkDirection, refusalTokensOf, type LoadedModel } from './extract';
import type { DirectionRef } from '../../protocol';
import { EngineError } from '../model/errors';
import { dot } from './linalg';
import { logSoftmax, refusalScore } from './metrics';

export interface TriggerScore {
  /** Token index in the chat-encoded prompt. */
  index: number;
  token: string;
  /** Drop of the last position's projection when this token is removed (positive: it raised it). */
  attribution: number;
  /** Tokens removed together from `index` on, when the prompt was too long to occlude token by token (absent: 1). */
  length?: number;
}

export interface ScoreResult {
  ids: number[];
  tokens: string[];
  /** [first, end) of the user's instruction among the tokens. */
  instruction: [number, number];
  /** Character range of each instruction token in the prompt (null for template tokens and unplaceable ones). */
  spans: ([number, number] | null)[];
  /** projections[layer][token] = resid_pre(layer) · r̂. */
  projections: number[][];
  refusalScore: number;
  refusalTokens: number[];
  /** Most likely next tokens at the last prompt position. */
  next: { token: string; id: number; p: number }[];
  /** Ranked by attribution, highest first. Method: occlusion by removal (not LRP). */
  triggers: TriggerScore[];
  triggerMethod: 'occlusion (token removal)' | 'occlusion (span removal, best spans refined)';
  /** Per-token projections onto each extra direction at its own layer (layer = L: the final-norm input). */
  components: { name: string; layer: number; values: number[] }[];
}

export interface NamedDirection {
  name: string;
  vector: number[];
  layer: number;
}

export function unit(v: number[]): number[] {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

/** x[row] · r, for a row-major [rows, r.length] matrix x. */
export const project = (x: Float32Array, row: number, r: number[]) => dot(x, r, row * r.length, 0, r.length);

/** Activation memory a Score request may use beyond the weights: the KV cache plus one run's outputs. */
export const SCORE_MEMORY_BUDGET = 2 ** 30;

/** Token passes occlusion may spend: exact token removal when it fits, else spans refined within it. */
export const occlusionBudget = (tokens: number) => 8 * tokens + 4096;

export interface ScorePlan {
  /** Tokens per run of the prompt (and of a long occlusion variant). */
  chunk: number;
  /** Bytes the cached prefixes of one occlusion group may take. */
  pastBytes: number;
}

/**
 * Sizes a Score request of `tokens` tokens by the memory budget, or refuses it before any work:
 * past the model's context, or when its KV cache and one chunk's outputs cannot fit the budget.
 */
export function scorePlan(model: LoadedModel, tokens: number, budget = SCORE_MEMORY_BUDGET): ScorePlan {
  const { maxPositions } = model.info;
  if (maxPositions && tokens > maxPositions) {
    throw new EngineError('BAD_REQUEST', `the prompt is ${tokens} tokens with the chat template, longer than the model's context of ${maxPositions} tokens (max_position_embeddings): shorten it`);
  }
  const dec = model.decoder;
  const kv = kvBytesPerToken(dec);
  // Per token of a run: every residual output (the graph holds them all) plus attention scores over the whole prompt.
  const perChunkToken = (t: number) => ((2 * dec.layers + 1) * dec.hidden + 2 * model.info.heads * t) * 4;
  const fits = (t: number) => Math.floor((budget / 2 - kv * t) / perChunkToken(t));
  const chunk = Math.min(defaultMaxTokens(dec), fits(tokens));
  if (chunk < 16) {
    let most = tokens;
    while (most > 16 && fits(most) < 16) most = Math.floor(most * 0.9);
    throw new EngineError(
      'BAD_REQUEST',
      `the prompt is ${tokens} tokens: scoring it needs ${(kv * tokens / 2 ** 20).toFixed(0)} MiB of key/value cache and about ${((16 * perChunkToken(tokens)) / 2 ** 20).toFixed(0)} MiB per run, ` +
        `over the memory budget of ${(budget / 2 ** 20).toFixed(0)} MiB for this model; at most about ${most} tokens fit: shorten the prompt`,
    );
  }
  return { chunk, pastBytes: budget / 2 };
}

/** Variants of `ids` with each span [start, end) removed. */
const without = (ids: number[], spans: [number, number][]) => spans.map(([a, b]) => [...ids.slice(0, a), ...ids.slice(b)]);

/** Splits [a, b) into `k` near-equal spans (fewer when shorter). */
function split([a, b]: [number, number], k: number): [number, number][] {
  const n = Math.min(k, b - a);
  return Array.from({ length: n }, (_, i) => [a + Math.floor(((b - a) * i) / n), a + Math.floor(((b - a) * (i + 1)) / n)]);
}

/** Token passes of removing each span: everything from its start on is recomputed. */
const passes = (spans: [number, number][], length: number) => spans.reduce((a, [start, end]) => a + length - (end - start) - start, 0);

/**
 * Occlusion attribution to the projection onto `r` at the last position of resid_pre(layer): the
 * drop when a token is removed. Every one-token-removed variant when that fits the budget
 * (occlusionBudget), batched, each running only from the removed token on over the prompt's cached
 * prefix. Longer prompts: the instruction is cut into spans, each removed whole, and the spans that
 * raise the projection most are cut again, while the budget lasts; a span never refined is
 * reported whole (`length` tokens from `index`).
 */
export async function occlusionTriggers(
  model: LoadedModel,
  ids: number[],
  r: number[],
  layer: number,
  signal?: AbortSignal,
  run?: { plan: ScorePlan; base: { rows: Record<string, Float32Array>; past: Past } },
): Promise<TriggerScore[]> {
  const [start, end] = model.tokenizer.instructionSpan(ids);
  // Checked before the base run and before each group of variants (forwardVariants).
  throwIfCancelled(signal);
  const hook = `resid_pre.${layer}`;
  const plan = run?.plan ?? scorePlan(model, ids.length);
  const strings = model.tokenizer.tokenStrings(ids);
  let baseRun = run?.base;
  const measure = async (spans: [number, number][]) => {
    const outs = await forwardVariants(model.decoder, ids, without(ids, spans), { hooks: [hook], signal, chunk: plan.chunk, pastBytes: plan.pastBytes, baseRun });
    baseRun = outs.baseRun;
    const base = project(outs.base[hook], 0, r);
    return spans.map(([a, b], k) => ({ index: a, token: strings.slice(a, b).join(''), attribution: base - project(outs.variants[k][hook], 0, r), ...(b - a > 1 ? { length: b - a } : {}) }));
  };
  const tokens = split([start, end], end - start);
  let budget = occlusionBudget(ids.length);
  let scored: TriggerScore[];
  if (passes(tokens, ids.length) <= budget) scored = await measure(tokens);
  else {
    // The first cut takes at most half the budget; then the best spans are cut while it lasts.
    let k = 16;
    while (k > 2 && passes(split([start, end], k), ids.length) > budget / 2) k--;
    const first = split([start, end], k);
    budget -= passes(first, ids.length);
    scored = await measure(first);
    for (;;) {
      const next = scored.filter((t) => (t.length ?? 1) > 1).sort((a, b) => b.attribution - a.attribution)[0];
      if (!next) break;
      // As many parts (up to 8) as the budget left pays for: each costs about the prompt after the span's start.
      let parts = split([next.index, next.index + next.length!], 8);
      while (parts.length > 2 && passes(parts, ids.length) > budget) parts = split([next.index, next.index + next.length!], parts.length - 1);
      if (passes(parts, ids.length) > budget) break;
      budget -= passes(parts, ids.length);
      scored = [...scored.filter((t) => t !== next), ...(await measure(parts))];
    }
  }
  return scored.sort((a, b) => b.attribution - a.attribution);
}

export async function scorePrompt(
  model: LoadedModel,
  prompt: string,
  direction: DirectionRef,
  opts: { refusalTokens?: number[]; topK?: number; components?: NamedDirection[]; signal?: AbortSignal; progress?: (message: string, fraction?: number) => void } = {},
): Promise<ScoreResult> {
  checkDirection(model.info, direction);
  const L = model.info.layers;
  const components = opts.components ?? [];
  for (const c of components) {
    if (c.vector.length !== model.info.hiddenSize || c.layer > L) {
      throw new EngineError('BAD_REQUEST', `component '${c.name}' has ${c.vector.length} values at layer ${c.layer}; this model has hidden size ${model.info.hiddenSize} and ${L} layers`);
    }
  }
  const ids = model.tokenizer.encode(prompt, { chat: true }).ids;
  const plan = scorePlan(model, ids.length);
  const refusalTokens = refusalTokensOf(model.tokenizer, opts.refusalTokens);
  const r = unit(direction.vector);
  const hooks = resolveHooks(['resid_pre.*', ...(components.some((c) => c.layer === L) ? ['resid_final'] : [])], L);
  const output = new Map(hooks.map((h) => [h.hook, h.output]));
  const units = components.map((c) => ({ hook: c.layer === L ? 'resid_final' : `resid_pre.${c.layer}`, u: unit(c.vector), values: new Array<number>(ids.length) }));
  const projections = Array.from({ length: L }, () => new Array<number>(ids.length));
  opts.progress?.('Projecting every token onto the direction', 0);
  // In chunks over the growing KV cache: only the projections are kept, never a whole residual.
  const { last, past } = await forwardChunked(model.decoder, ids, { fetch: [...output.values(), 'logits'], chunk: plan.chunk, signal: opts.signal }, (from, outs) => {
    const rows = (hook: string) => toFloat32(outs[output.get(hook)!]);
    const n = Number(outs[output.get('resid_pre.0')!].dims[1]);
    for (let l = 0; l < L; l++) {
      const x = rows(`resid_pre.${l}`);
      for (let t = 0; t < n; t++) projections[l][from + t] = project(x, t, r);
    }
    for (const c of units) {
      const x = rows(c.hook);
      for (let t = 0; t < n; t++) c.values[from + t] = project(x, t, c.u);
    }
  });
  const logits = last.logits;
  const lp = logSoftmax(logits);
  const top = Array.from(lp.keys())
    .sort((a, b) => lp[b] - lp[a])
    .slice(0, opts.topK ?? 10);
  const strings = model.tokenizer.tokenStrings(top);
  const instruction = model.tokenizer.instructionSpan(ids);
  opts.progress?.('Ranking trigger tokens by occlusion', 0.2);
  const hook = `resid_pre.${direction.layer}`;
  const triggers = await occlusionTriggers(model, ids, r, direction.layer, opts.signal, { plan, base: { rows: { [hook]: last[output.get(hook)!] }, past } });
  return {
    ids,
    tokens: model.tokenizer.tokenStrings(ids),
    instruction,
    spans: model.tokenizer.spansIn(prompt, ids, ...instruction),
    projections,
    refusalScore: refusalScore(logits, refusalTokens),
    refusalTokens,
    next: top.map((id, i) => ({ id, token: strings[i], p: Math.exp(lp[id]) })),
    triggers,
    triggerMethod: triggers.some((t) => t.length) ? 'occlusion (span removal, best spans refined)' : 'occlusion (token removal)',
    components: components.map((c, i) => ({ name: c.name, layer: c.layer, values: units[i].values })),
  };
}
