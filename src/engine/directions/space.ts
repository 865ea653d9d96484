// Pan et al.'s safety residual space. Two-model mode (the paper's): per layer, the least-squares
// map from base to aligned last-token activations, the shift S = XW − X, its uncentered SVD;
// components oriented so their projection correlates positively with refusal, effective ranks,
// per-component refusal-prediction accuracy, with refusal labels from the aligned model's refusal
// score or, as Pan et al. label, the base model's greedy first token. One-model mode (this project's variant): the same
// decomposition of each prompt's activation minus the harmless mean. Component interaction is a
// causal proxy for the paper's LRP relevance: the change of the projection on component k at layer
// l per unit step along component j in the residual at layer l−1 (last position).
import type { SpaceLabelSource } from '../../protocol';
import { EngineError } from '../model/errors';
import { checkpoint, throwIfCancelled } from '../cancel';
import { forward } from '../runtime/forward';
import { argmax } from '../runtime/generate';
import { steeringTensors } from '../runtime/steering';
import { encodeChat, refusalTokensOf, type LoadedModel } from './extract';
import { project } from './score';
import { dot, mat, Mat, norm, svd } from './linalg';
import { effectiveRank, refusalScore } from './metrics';
import { probeAccuracy } from './probe';
import { promptSet } from './prompts';

export const TAUS = [0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

const INTERACTION_METHOD = 'causal proxy: change of the projection per unit step along a component at the previous layer (not LRP)';

export interface SpaceLayer {
  /** Hidden-state index: resid_pre of layer l for l < L, the final-norm input for l = L. */
  layer: number;
  /** Eigenvalues λ_k = σ_k² / (N − 1), descending (the first 64; the effective rank uses all of them). */
  eigenvalues: number[];
  effectiveRank: Record<string, number>;
  /** Unit components c_{l,k}, k < K. */
  components: number[][];
  /** Accuracy of predicting the refusal labels (SpaceResult.labels) from the aligned model's activation projected on each component. */
  accuracy: number[];
  /**
   * Two-model mode: the same from the base model's activations. Pan et al.'s classifier projects base
   * activations and labels with the base model's first token: this with labels 'base-first-token'
   * (their threshold is a percentile and their sign −c; the rule here is thresholdAccuracy's).
   */
  accuracyBase?: number[];
  /** The best of the components (best-of-N): its index and accuracy. */
  best: { component: number; accuracy: number };
  /** Held-out accuracy of a logistic probe on the aligned activations (probe.ts), the baseline to beat. */
  probe: number;
  /** Per component, the instruction tokens that raise its projection most (see componentTokens). */
  topTokens?: string[][];
}

export interface SpaceResult {
  mode: 'two-model' | 'one-model (project variant: per-prompt activation minus harmless mean)';
  prompts: number;
  /** Share of the prompts the labels call refused. */
  refusedFraction: number;
  /** Where the refusal labels came from, the rule, and a note when they are all one class (accuracy is then undefined). */
  labels: { source: SpaceLabelSource; rule: string; note?: string };
  layers: SpaceLayer[];
  /** interactions[i] relates layers[i] (source, components j) to layers[i+1] (target, components k): matrix[j][k]. */
  interactions: { from: number; to: number; matrix: number[][] }[];
  interactionMethod: typeof INTERACTION_METHOD;
  /** The prompts the interactions were measured on (their sign and size depend on them). */
  interactionSet: { source: 'interaction prompts' | 'analysis prompts'; prompts: number; hash: string };
}

export interface SpaceOptions {
  prompts: string[];
  /** One-model mode: the harmless prompts whose mean is subtracted. */
  harmless?: string[];
  components?: number;
  /** How many prompts the (per-prompt, costly) interaction passes use. */
  interactionPrompts?: number;
  /** Prompts to measure interactions on (default: an even spread over `prompts`), e.g. jailbreaks as in Pan et al. */
  interactionOn?: string[];
  /** Refusal labels: the aligned model's refusal score > 0 (default), or the base model's greedy first token is a refusal token (two-model mode). */
  labels?: SpaceLabelSource;
  refusalTokens?: number[];
  signal?: AbortSignal;
  progress?: (message: string, fraction?: number) => void;
}

const LABEL_RULES: Record<SpaceLabelSource, string> = {
  'aligned-score': "the aligned model's refusal score (log-odds of the refusal tokens at the last prompt position) > 0",
  'base-first-token': "the base model's greedy first answer token is a refusal token (Pan et al.'s labels)",
};

const hookOf = (l: number, L: number) => (l < L ? `resid_pre.${l}` : 'resid_final');

/** Last-token activations at every hidden-state index: acts[l] is [N, H]. */
async function lastTokenActivations(model: LoadedModel, seqs: number[][], signal?: AbortSignal): Promise<{ acts: Mat[]; logits: Float32Array[] }> {
  const { layers: L, hiddenSize: H } = model.info;
  const outs = await forward(model.decoder, seqs, { hooks: ['resid_pre.*', 'resid_final'], logits: 'last', signal });
  const acts = Array.from({ length: L + 1 }, (_, l) => {
    const m = mat(seqs.length, H);
    outs.forEach((o, i) => {
      const x = o.residuals[hookOf(l, L)];
      m.data.set(x.subarray(x.length - H), i * H);
    });
    for (const v of m.data) if (!Number.isFinite(v)) throw new EngineError('MODEL_INVALID', `non-finite activations at ${hookOf(l, L)}: the model produced NaN or infinity`);
    return m;
  });
  return { acts, logits: outs.map((o) => o.logits!) };
}

/** P_X Y − X: the linear part of the shift, with P_X the projection onto X's column space (lstsq fit). */
export function linearShift(x: Mat, y: Mat): Mat {
  const { u } = svd(x);
  const n = x.rows;
  const out = mat(n, x.cols);
  for (let j = 0; j < u.rows; j++) {
    const uj = u.data.subarray(j * n, (j + 1) * n);
    // (u_j u_jᵀ) Y
    const coef = new Float64Array(x.cols);
    for (let i = 0; i < n; i++) for (let c = 0; c < x.cols; c++) coef[c] += uj[i] * y.data[i * x.cols + c];
    for (let i = 0; i < n; i++) for (let c = 0; c < x.cols; c++) out.data[i * x.cols + c] += uj[i] * coef[c];
  }
  for (let i = 0; i < out.data.length; i++) out.data[i] -= x.data[i];
  return out;
}

function projections(a: Mat, c: ArrayLike<number>): number[] {
  return Array.from({ length: a.rows }, (_, i) => dot(a.data, c, i * a.cols, 0, a.cols));
}

function correlation(x: number[], y: number[]): number {
  const mx = x.reduce((a, b) => a + b, 0) / x.length;
  const my = y.reduce((a, b) => a + b, 0) / y.length;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < x.length; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : 0;
}

/** Accuracy of "refuses iff projection is above the quantile matching the refusal rate" (paper's rule). */
export function thresholdAccuracy(proj: number[], labels: boolean[]): number {
  const positives = labels.filter(Boolean).length;
  if (positives === 0 || positives === labels.length) return NaN;
  const threshold = [...proj].sort((a, b) => b - a)[positives - 1];
  return proj.filter((p, i) => p >= threshold === labels[i]).length / labels.length;
}

export function decompose(shift: Mat, labels: boolean[], aligned: Mat, base: Mat | undefined, layer: number, k: number): SpaceLayer {
  // Only k components are needed, but the effective rank needs the whole spectrum (its total is
  // ‖S‖²_F / (N − 1)): a spectrum cut at 64 understates it wherever more dimensions carry the shift.
  const { spectrum, v } = svd(shift, k);
  const n = shift.rows;
  // A shift at rounding level relative to the activations (e.g. before the first differing layer) is no shift.
  const energy = (m: Mat) => m.data.reduce((a, x) => a + x * x, 0);
  const negligible = energy(shift) <= 1e-10 * energy(aligned);
  const eigenvalues = negligible ? [] : Array.from(spectrum, (x) => (x * x) / Math.max(1, n - 1));
  const y = labels.map((b) => (b ? 1 : 0));
  const components: number[][] = [];
  for (let j = 0; j < Math.min(k, eigenvalues.length, v.rows); j++) {
    const c = Array.from(v.data.subarray(j * shift.cols, (j + 1) * shift.cols));
    // SVD signs are arbitrary: orient each component so its projection correlates positively with refusal.
    components.push(correlation(projections(shift, c), y) < 0 ? c.map((x) => -x) : c);
  }
  const accuracyOn = (m: Mat) => components.map((c) => thresholdAccuracy(projections(m, c), labels));
  const accuracy = accuracyOn(aligned);
  let best = { component: -1, accuracy: NaN };
  accuracy.forEach((a, j) => {
    if (Number.isFinite(a) && !(a <= best.accuracy)) best = { component: j, accuracy: a };
  });
  return {
    layer,
    eigenvalues: eigenvalues.slice(0, 64),
    effectiveRank: Object.fromEntries(TAUS.map((t) => [t.toFixed(1), effectiveRank(eigenvalues, t)])),
    components,
    accuracy,
    ...(base ? { accuracyBase: accuracyOn(base) } : {}),
    best,
    probe: probeAccuracy(aligned, labels),
  };
}

/**
 * Each component's trigger tokens, as in Pan et al.'s reading of components by the tokens that
 * activate them (measured differently: a cheap proxy, not their attribution): over a sample of
 * prompts, the mean rise of the projection onto the component at the token's own position
 * (proj(t) − proj(t−1)) per distinct instruction token; the five largest. Sets layer.topTokens.
 */
async function componentTokens(model: LoadedModel, seqs: number[][], layers: SpaceLayer[], signal?: AbortSignal, sample = 16): Promise<void> {
  const L = model.info.layers;
  const picked = Array.from({ length: Math.min(sample, seqs.length) }, (_, i) => seqs[Math.floor((i * seqs.length) / Math.min(sample, seqs.length))]);
  const outs = await forward(model.decoder, picked, { hooks: ['resid_pre.*', 'resid_final'], logits: 'none', signal });
  // Per prompt once, not per layer and component: its token strings and instruction span.
  const prompts = picked.map((ids, i) => ({ strings: model.tokenizer.tokenStrings(ids), span: model.tokenizer.instructionSpan(ids), residuals: outs[i].residuals }));
  for (const layer of layers) {
    const hook = hookOf(layer.layer, L);
    layer.topTokens = layer.components.map((c) => {
      const rise = new Map<string, { sum: number; n: number }>();
      for (const { strings, span, residuals } of prompts) {
        const x = residuals[hook];
        for (let t = Math.max(1, span[0]); t < span[1]; t++) {
          const e = rise.get(strings[t]) ?? { sum: 0, n: 0 };
          e.sum += project(x, t, c) - project(x, t - 1, c);
          e.n++;
          rise.set(strings[t], e);
        }
      }
      return [...rise.entries()]
        .map(([token, e]) => ({ token, mean: e.sum / e.n }))
        .sort((a, b) => b.mean - a.mean)
        .slice(0, 5)
        .map((e) => e.token);
    });
  }
}

/**
 * interaction[j][k]: the derivative of the projection of h_to on c_{to,k} along c_{from,j} at the last
 * position, measured with a small step against c_j (Δ = −ε c_j, ε 1% of ‖h‖) as (proj_k(before) −
 * proj_k(after)) / ε, minus the direct residual path c_j·c_k (geometry, not computation), averaged
 * over prompts. > 0: component j (as oriented: towards refusal) promotes k; < 0: it suppresses k. A
 * local derivative at each prompt's own activation: removing a component outright adds, on prompts
 * whose projection is negative, features they never had (on the planted organism that switched on
 * the framing suppressor and flipped the sign between prompt sets).
 */
async function interactions(model: LoadedModel, seqs: number[][], from: SpaceLayer, to: SpaceLayer, signal?: AbortSignal): Promise<number[][]> {
  const { layers: L, hiddenSize: H } = model.info;
  if (from.layer >= L) return [];
  const target = hookOf(to.layer, L);
  const base = await forward(model.decoder, seqs, { hooks: [hookOf(from.layer, L), target], logits: 'none', signal });
  const last = (x: Float32Array) => x.subarray(x.length - H);
  const matrix = from.components.map(() => to.components.map(() => 0));
  for (const [j, cj] of from.components.entries()) {
    for (const [i, ids] of seqs.entries()) {
      throwIfCancelled(signal);
      const h = last(base[i].residuals[hookOf(from.layer, L)]);
      const eps = 0.01 * norm(h);
      const steering = steeringTensors({ add: [{ vector: cj.map((x) => -eps * x), layers: [from.layer], coefficient: 1 }], positions: 'last' }, L, H);
      const [out] = await forward(model.decoder, [ids], { hooks: [target], logits: 'none', steering, signal });
      const after = last(out.residuals[target]);
      const before = last(base[i].residuals[target]);
      to.components.forEach((ck, k) => (matrix[j][k] += ((dot(before, ck) - dot(after, ck)) / eps - dot(cj, ck)) / seqs.length));
    }
  }
  return matrix;
}

/**
 * Cancellation: between forward batches (activations, trigger tokens), after each layer's SVD, and
 * before each interaction run (one per component and prompt).
 */
export async function safetySpace(aligned: LoadedModel, base: LoadedModel | undefined, opts: SpaceOptions): Promise<SpaceResult> {
  const { layers: L, hiddenSize: H } = aligned.info;
  if (base && (base.info.layers !== L || base.info.hiddenSize !== H || base.info.vocabSize !== aligned.info.vocabSize)) {
    throw new EngineError(
      'BAD_REQUEST',
      `two-model mode needs models of the same shape and tokenizer: aligned has ${L} layers, hidden ${H}, vocabulary ${aligned.info.vocabSize}; ` +
        `base has ${base.info.layers}, ${base.info.hiddenSize}, ${base.info.vocabSize}`,
    );
  }
  if (opts.prompts.length < 4) throw new EngineError('BAD_REQUEST', `the safety residual space needs at least 4 prompts, got ${opts.prompts.length}`);
  const labelSource = opts.labels ?? 'aligned-score';
  if (labelSource === 'base-first-token' && !base) {
    throw new EngineError('BAD_REQUEST', "labels from the base model's first token need a base model (two-model mode); give the base model, or label with the aligned model's refusal score");
  }
  const k = opts.components ?? 6;
  const progress = opts.progress ?? (() => {});
  const set = { name: 'prompts', prompts: opts.prompts, hash: '' };
  const seqs = encodeChat(aligned, set);
  if (base) {
    const baseSeqs = encodeChat(base, set);
    if (baseSeqs.some((s, i) => s.join() !== seqs[i].join())) throw new EngineError('BAD_REQUEST', 'the base and aligned models tokenize the prompts differently; two-model mode needs the same tokenizer and chat template');
  }
  progress('Collecting aligned activations', 0);
  const y = await lastTokenActivations(aligned, seqs, opts.signal);
  const refusalTokens = refusalTokensOf(aligned.tokenizer, opts.refusalTokens);
  if (base) progress('Collecting base activations', 0.2);
  const x = base && (await lastTokenActivations(base, seqs, opts.signal));
  // Both models tokenize alike (checked above), so the refusal tokens are the same ids in both.
  const labels = x && labelSource === 'base-first-token' ? x.logits.map((l) => refusalTokens.includes(argmax(l))) : y.logits.map((l) => refusalScore(l, refusalTokens) > 0);
  const refused = labels.filter(Boolean).length;
  const who = labelSource === 'base-first-token' ? 'the base model' : 'the aligned model';
  const note = refused === 0 || refused === labels.length ? `${who} refuses ${refused === 0 ? 'none' : 'all'} of the ${labels.length} prompts by this rule: component accuracy and the probe are undefined` : undefined;
  const layers: SpaceLayer[] = [];
  if (x) {
    for (const [l, yl] of y.acts.entries()) {
      // One SVD per layer, synchronous: the cancel check comes after each.
      layers.push(decompose(linearShift(x.acts[l], yl), labels, yl, x.acts[l], l, k));
      await checkpoint(opts.signal);
    }
  } else {
    if (!opts.harmless?.length) throw new EngineError('BAD_REQUEST', 'one-model mode needs harmless prompts (their mean is the reference point)');
    const hl = await lastTokenActivations(aligned, encodeChat(aligned, { prompts: opts.harmless }), opts.signal);
    for (const [l, yl] of y.acts.entries()) {
      const d = mat(yl.rows, H, yl.data);
      const mean = new Float64Array(H);
      for (let i = 0; i < hl.acts[l].rows; i++) for (let h = 0; h < H; h++) mean[h] += hl.acts[l].data[i * H + h] / hl.acts[l].rows;
      for (let i = 0; i < d.rows; i++) for (let h = 0; h < H; h++) d.data[i * H + h] -= mean[h];
      layers.push(decompose(d, labels, yl, undefined, l, k));
      await checkpoint(opts.signal);
    }
  }
  progress('Finding each component\'s trigger tokens', 0.45);
  await componentTokens(aligned, seqs, layers, opts.signal);
  progress('Measuring component interactions', 0.5);
  // An even spread over the prompts, so every kind (harmful, harmless, framed) is represented.
  const pool = opts.interactionOn?.length ? opts.interactionOn : opts.prompts;
  const want = Math.min(pool.length, opts.interactionPrompts ?? 24);
  const picked = promptSet('interactions', Array.from({ length: want }, (_, i) => pool[Math.floor((i * pool.length) / want)]));
  const sample = encodeChat(aligned, picked);
  const inter: SpaceResult['interactions'] = [];
  for (let l = 1; l < layers.length - 1; l++) {
    progress(`Interactions ${l} → ${l + 1}`, 0.5 + (0.5 * l) / layers.length);
    inter.push({ from: l, to: l + 1, matrix: await interactions(aligned, sample, layers[l], layers[l + 1], opts.signal) });
  }
  return {
    mode: base ? 'two-model' : 'one-model (project variant: per-prompt activation minus harmless mean)',
    prompts: seqs.length,
    refusedFraction: refused / labels.length,
    labels: { source: labelSource, rule: LABEL_RULES[labelSource], ...(note ? { note } : {}) },
    layers,
    interactions: inter,
    interactionMethod: INTERACTION_METHOD,
    interactionSet: { source: opts.interactionOn?.length ? 'interaction prompts' : 'analysis prompts', prompts: picked.prompts.length, hash: picked.hash },
  };
}
