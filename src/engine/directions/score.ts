// Scoring a prompt against a direction: per-token projections of resid_pre onto the unit direction
// at every layer (all positions: an extension of Pan et al., who use the last token only), the
// refusal metric and next-token probabilities, and trigger tokens by occlusion.
import { throwIfCancelled } from '../cancel';
import { forward, forwardVariants } from '../runtime/forward';
import { checkDirection, refusalTokensOf, type LoadedModel } from './extract';
import type { DirectionRef } from './evaluate';
import { EngineError } from '../model/errors';
import { dot } from './linalg';
import { logSoftmax, refusalScore } from './metrics';

export interface TriggerScore {
  /** Token index in the chat-encoded prompt. */
  index: number;
  token: string;
  /** Drop of the last position's projection when this token is removed (positive: it raised it). */
  attribution: number;
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
  triggerMethod: 'occlusion (token removal)';
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

/**
 * Occlusion attribution of each instruction token to the projection onto `r` at the last position
 * of resid_pre(layer): every one-token-removed variant, batched, each running only from the removed
 * token on over the prompt's cached prefix (keys and values before it are the prompt's own).
 */
export async function occlusionTriggers(model: LoadedModel, ids: number[], r: number[], layer: number, signal?: AbortSignal): Promise<TriggerScore[]> {
  const [start, end] = model.tokenizer.instructionSpan(ids);
  const variants: number[][] = [];
  for (let i = start; i < end; i++) variants.push([...ids.slice(0, i), ...ids.slice(i + 1)]);
  // Checked before the base run and before each group of variants (forwardVariants).
  throwIfCancelled(signal);
  const hook = `resid_pre.${layer}`;
  const outs = await forwardVariants(model.decoder, ids, variants, { hooks: [hook], signal });
  const base = project(outs.base[hook], 0, r);
  const strings = model.tokenizer.tokenStrings(ids);
  return Array.from({ length: end - start }, (_, k) => ({ index: start + k, token: strings[start + k], attribution: base - project(outs.variants[k][hook], 0, r) })).sort(
    (a, b) => b.attribution - a.attribution,
  );
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
  const r = unit(direction.vector);
  const hooks = ['resid_pre.*', ...(components.some((c) => c.layer === L) ? ['resid_final'] : [])];
  opts.progress?.('Projecting every token onto the direction', 0);
  const [out] = await forward(model.decoder, [ids], { hooks, logits: 'last', signal: opts.signal });
  const projections = Array.from({ length: L }, (_, l) => ids.map((_, t) => project(out.residuals[`resid_pre.${l}`], t, r)));
  const refusalTokens = refusalTokensOf(model.tokenizer, opts.refusalTokens);
  const lp = logSoftmax(out.logits!);
  const top = Array.from(lp.keys())
    .sort((a, b) => lp[b] - lp[a])
    .slice(0, opts.topK ?? 10);
  const strings = model.tokenizer.tokenStrings(top);
  const instruction = model.tokenizer.instructionSpan(ids);
  opts.progress?.('Ranking trigger tokens by occlusion', 0.2);
  const triggers = await occlusionTriggers(model, ids, r, direction.layer, opts.signal);
  return {
    ids,
    tokens: model.tokenizer.tokenStrings(ids),
    instruction,
    spans: model.tokenizer.spansIn(prompt, ids, ...instruction),
    projections,
    refusalScore: refusalScore(out.logits!, refusalTokens),
    refusalTokens,
    next: top.map((id, i) => ({ id, token: strings[i], p: Math.exp(lp[id]) })),
    triggers,
    triggerMethod: 'occlusion (token removal)',
    components: components.map((c) => {
      const x = out.residuals[c.layer === L ? 'resid_final' : `resid_pre.${c.layer}`];
      const u = unit(c.vector);
      return { name: c.name, layer: c.layer, values: ids.map((_, t) => project(x, t, u)) };
    }),
  };
}
