// Scoring a prompt against a direction: per-token projections of resid_pre onto the unit direction
// at every layer (all positions: an extension of Pan et al., who use the last token only), the
// refusal metric and next-token probabilities, and trigger tokens by occlusion.
import { forward, throwIfCancelled } from '../runtime/forward';
import { checkDirection, refusalTokensOf, type LoadedModel } from './extract';
import type { DirectionRef } from './evaluate';
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
  /** projections[layer][token] = resid_pre(layer) · r̂. */
  projections: number[][];
  refusalScore: number;
  refusalTokens: number[];
  /** Most likely next tokens at the last prompt position. */
  next: { token: string; id: number; p: number }[];
  /** Ranked by attribution, highest first. Method: occlusion by removal (not LRP). */
  triggers: TriggerScore[];
  triggerMethod: 'occlusion (token removal)';
}

export function unit(v: number[]): number[] {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

const project = (x: Float32Array, row: number, r: number[]) => {
  let s = 0;
  for (let h = 0; h < r.length; h++) s += x[row * r.length + h] * r[h];
  return s;
};

/**
 * Occlusion attribution of each instruction token to the projection onto `r` at the last position
 * of resid_pre(layer): one batched forward pass over every one-token-removed variant.
 */
export async function occlusionTriggers(model: LoadedModel, ids: number[], r: number[], layer: number, signal?: AbortSignal): Promise<TriggerScore[]> {
  const [start, end] = model.tokenizer.instructionSpan(ids);
  const variants = [ids];
  for (let i = start; i < end; i++) variants.push([...ids.slice(0, i), ...ids.slice(i + 1)]);
  throwIfCancelled(signal);
  const hook = `resid_pre.${layer}`;
  const outs = await forward(model.decoder, variants, { hooks: [hook], logits: 'none', signal });
  const lastProj = (k: number) => project(outs[k].residuals[hook], variants[k].length - 1, r);
  const base = lastProj(0);
  const strings = model.tokenizer.tokenStrings(ids);
  return Array.from({ length: end - start }, (_, k) => ({ index: start + k, token: strings[start + k], attribution: base - lastProj(k + 1) })).sort(
    (a, b) => b.attribution - a.attribution,
  );
}

export async function scorePrompt(model: LoadedModel, prompt: string, direction: DirectionRef, opts: { refusalTokens?: number[]; topK?: number; signal?: AbortSignal } = {}): Promise<ScoreResult> {
  checkDirection(model.info, direction);
  const L = model.info.layers;
  const ids = model.tokenizer.encode(prompt, { chat: true }).ids;
  const r = unit(direction.vector);
  const [out] = await forward(model.decoder, [ids], { hooks: ['resid_pre.*'], logits: 'last', signal: opts.signal });
  const projections = Array.from({ length: L }, (_, l) => ids.map((_, t) => project(out.residuals[`resid_pre.${l}`], t, r)));
  const refusalTokens = refusalTokensOf(model.tokenizer, opts.refusalTokens);
  const lp = logSoftmax(out.logits!);
  const top = Array.from(lp.keys())
    .sort((a, b) => lp[b] - lp[a])
    .slice(0, opts.topK ?? 10);
  const strings = model.tokenizer.tokenStrings(top);
  return {
    ids,
    tokens: model.tokenizer.tokenStrings(ids),
    instruction: model.tokenizer.instructionSpan(ids),
    projections,
    refusalScore: refusalScore(out.logits!, refusalTokens),
    refusalTokens,
    next: top.map((id, i) => ({ id, token: strings[i], p: Math.exp(lp[id]) })),
    triggers: await occlusionTriggers(model, ids, r, direction.layer, opts.signal),
    triggerMethod: 'occlusion (token removal)',
  };
}
