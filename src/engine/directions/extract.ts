// Arditi et al.'s refusal direction: difference in means of resid_pre at every layer and every
// post-instruction position, then candidate selection by bypass score (refusal metric with the
// direction ablated everywhere), induce score (refusal metric with the direction added at its own
// layer) and KL on harmless prompts, with the paper's filters. Defaults follow the reference code.
import type { ModelInfo } from '../../protocol';
import type { ChatTokenizer } from '../model/tokenizer';
import { EngineError } from '../model/errors';
import type { Decoder } from '../runtime/decoder';
import { throwIfCancelled } from '../cancel';
import { forward } from '../runtime/forward';
import { steeringTensors } from '../runtime/steering';
import { klDivergence, refusalScore } from './metrics';
import type { PromptSet } from './prompts';

/** What the direction methods need of a loaded model (the Engine provides it). */
export interface LoadedModel {
  info: ModelInfo;
  tokenizer: ChatTokenizer;
  decoder: Decoder;
}

export interface ExtractOptions extends FilterOptions {
  harmful: { train: PromptSet; val: PromptSet };
  harmless: { train: PromptSet; val: PromptSet };
  /** Token ids of refusal openings; default: the tokenizer's refusal tokens (first tokens of "I cannot", "As an" in the answer's context and alone). */
  refusalTokens?: number[];
  /** Keep only harmful prompts the model refuses and harmless ones it answers (paper default: on). */
  filterPrompts?: boolean;
  /** Score every candidate (the paper's behaviour, for the full table); default: only what selection needs. */
  exhaustive?: boolean;
  signal?: AbortSignal;
  progress?: (message: string, fraction?: number) => void;
}

export interface Candidate {
  /** Post-instruction position, negative from the end of the prompt. */
  position: number;
  layer: number;
  bypass: number;
  induce: number;
  kl: number;
  norm: number;
  /** Why the candidate was filtered out, if it was. */
  filtered?: string;
  /** Which scores fast selection did not compute (they are NaN) and why they cannot change the selection. */
  skipped?: string;
}

export interface ExtractResult {
  layers: number;
  positions: number[];
  refusalTokens: number[];
  counts: { harmfulTrain: number; harmlessTrain: number; harmfulVal: number; harmlessVal: number };
  candidates: Candidate[];
  selected?: Candidate;
  /** The selected candidate's raw difference-in-means vector (not normalised: ActAdd uses it as is). */
  vector?: number[];
  /** Set when every candidate was filtered: what happened and what to try. */
  report?: string;
  /** Mean diff vectors for every candidate, [position index][layer] (for the explorer and tests). */
  meanDiffs: Float64Array[][];
  /** The validation prompts kept after filtering, which scored the candidates (to score skipped ones later). */
  validation: { harmful: string[]; harmless: string[] };
}

/** A direction must fit the model it is applied to: hidden size, layer, finite values. */
export function checkDirection(info: Pick<ModelInfo, 'hiddenSize' | 'layers'>, d: { vector: number[]; layer: number }): void {
  const { hiddenSize: H, layers: L } = info;
  if (d.vector.length !== H) throw new EngineError('BAD_REQUEST', `the direction has ${d.vector.length} values, the model's hidden size is ${H}: it was made for another model`);
  if (d.layer >= L) throw new EngineError('BAD_REQUEST', `the direction's layer ${d.layer} does not exist (the model has layers 0..${L - 1})`);
  if (!d.vector.every(Number.isFinite)) throw new EngineError('BAD_REQUEST', 'the direction contains NaN or infinite values');
  if (!d.vector.some((x) => x !== 0)) throw new EngineError('BAD_REQUEST', 'the direction is the zero vector');
}

export function refusalTokensOf(tokenizer: ChatTokenizer, override?: number[]): number[] {
  const tokens = override?.length ? override : tokenizer.refusalIds;
  if (tokens.length === 0) throw new EngineError('BAD_REQUEST', 'no refusal tokens: the tokenizer encodes none of the refusal openings; pass refusal tokens explicitly');
  return tokens;
}

/** Chat-encodes prompts; each is checked to end with the template's post-instruction tokens (ChatTokenizer.encode). */
export function encodeChat(model: LoadedModel, set: Pick<PromptSet, 'prompts'>): number[][] {
  return set.prompts.map((p) => model.tokenizer.encode(p, { chat: true }).ids);
}

export function postInstructionCount(model: LoadedModel): number {
  if (!model.tokenizer.hasChatTemplate) {
    throw new EngineError('MODEL_INVALID', 'direction extraction needs a chat template (post-instruction positions come from it); this tokenizer has none');
  }
  // Positions after the instruction come from the template itself (e.g. "<|im_end|>\n<|im_start|>assistant\n").
  return Math.max(1, model.tokenizer.postInstructionIds.length);
}

async function lastLogits(model: LoadedModel, seqs: number[][], steering: Parameters<typeof steeringTensors>[0] | undefined, signal?: AbortSignal): Promise<Float32Array[]> {
  const st = steering && steeringTensors(steering, model.info.layers, model.info.hiddenSize);
  const outs = await forward(model.decoder, seqs, { hooks: [], logits: 'last', steering: st, signal });
  return outs.map((o) => o.logits!);
}

/**
 * Means of resid_pre at every layer and each of the last `n` positions over the sequences,
 * [position][layer] → [H], accumulated in float64 from one batched forward pass.
 */
export async function residualMeans(model: LoadedModel, seqs: number[][], n: number, signal?: AbortSignal): Promise<Float64Array[][]> {
  const { layers: L, hiddenSize: H } = model.info;
  const sums = Array.from({ length: n }, () => Array.from({ length: L }, () => new Float64Array(H)));
  const outs = await forward(model.decoder, seqs, { hooks: ['resid_pre.*'], logits: 'none', signal });
  outs.forEach((o, s) => {
    const len = seqs[s].length;
    for (let l = 0; l < L; l++) {
      const x = o.residuals[`resid_pre.${l}`];
      for (let p = 0; p < n; p++) {
        const row = (len - n + p) * H;
        const acc = sums[p][l];
        for (let h = 0; h < H; h++) acc[h] += x[row + h];
      }
    }
  });
  for (const perPos of sums) for (const acc of perPos) for (let h = 0; h < H; h++) acc[h] /= seqs.length;
  return sums;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The paper's filter thresholds (reference code defaults). */
export interface FilterOptions {
  pruneLayerFraction?: number;
  klThreshold?: number;
  induceThreshold?: number;
}

/** One filter: a candidate's reason is the first rule it fails; the all-filtered report groups by rule. */
export interface FilterRule {
  name: string;
  fails: (c: Candidate) => boolean;
  reason: (c: Candidate) => string;
  value?: [label: string, of: (c: Candidate) => number, digits: number];
}

/** First layer the paper prunes: the last `pruneLayerFraction` (0.2) of the layers are never selected. */
export const prunedFrom = (layers: number, opts: FilterOptions = {}) => Math.floor(layers * (1 - (opts.pruneLayerFraction ?? 0.2)));

/** The vector check, then the paper's filters in the reference code's order (select_direction.py filter_fn). */
export function filterRules(layers: number, opts: FilterOptions = {}): FilterRule[] {
  const pruneFrom = prunedFrom(layers, opts);
  const klMax = opts.klThreshold ?? 0.1;
  const induceMin = opts.induceThreshold ?? 0;
  return [
    { name: 'zero or non-finite vector', fails: (c) => !(c.norm > 1e-8) || !Number.isFinite(c.norm), reason: (c) => (c.norm === 0 ? 'zero vector (harmful and harmless means are equal here)' : 'non-finite activations') },
    { name: 'a score is NaN', fails: (c) => !c.skipped && [c.bypass, c.kl, c.induce].some((x) => !Number.isFinite(x)), reason: () => 'a score is NaN' },
    { name: `layer ≥ ${pruneFrom}`, fails: (c) => c.layer >= pruneFrom, reason: () => `layer ≥ ${pruneFrom} (the last ${Math.round((opts.pruneLayerFraction ?? 0.2) * 100)}% of layers)`, value: ['layers', (c) => c.layer, 0] },
    { name: `KL > ${klMax}`, fails: (c) => c.kl > klMax, reason: (c) => `KL ${c.kl.toFixed(3)} > ${klMax}`, value: ['KL', (c) => c.kl, 3] },
    { name: `induce score < ${induceMin}`, fails: (c) => c.induce < induceMin, reason: (c) => `induce score ${c.induce.toFixed(2)} < ${induceMin}`, value: ['induce', (c) => c.induce, 2] },
  ];
}

/** The first rule a candidate fails, with its reason recorded on it; undefined if it passes. */
export function judgeCandidate(c: Candidate, rules: FilterRule[]): FilterRule | undefined {
  const rule = rules.find((r) => r.fails(c));
  if (rule) c.filtered = rule.reason(c);
  else delete c.filtered;
  return rule;
}

/**
 * The paper's selection among judged candidates: the lowest bypass score among those not filtered
 * (and fully scored); ties go to the earlier candidate in (position, layer) order, as the reference
 * code's stable sort does.
 */
export function selectCandidate(candidates: readonly Candidate[]): Candidate | undefined {
  let best: Candidate | undefined;
  for (const c of candidates) if (!c.filtered && !c.skipped && (!best || c.bypass < best.bypass)) best = c;
  return best;
}

/** The scores of one candidate vector; each is one batched forward pass over a validation set. */
export interface CandidateScorer {
  bypass(c: Candidate, r: number[]): Promise<number>;
  kl(c: Candidate, r: number[]): Promise<number>;
  induce(c: Candidate, r: number[]): Promise<number>;
}

/** Validation prompts (chat-encoded) and what scoring compares against, as `scorer` needs them. */
export function candidateScorer(
  model: LoadedModel,
  val: { harmful: number[][]; harmless: number[][] },
  baseHarmless: Float32Array[],
  refusalTokens: number[],
  signal?: AbortSignal,
): CandidateScorer {
  const score = (logits: Float32Array[]) => mean(logits.map((l) => refusalScore(l, refusalTokens)));
  const ablate = (r: number[]) => ({ ablate: [r], positions: 'all' as const });
  return {
    bypass: async (_c, r) => score(await lastLogits(model, val.harmful, ablate(r), signal)),
    kl: async (_c, r) => mean((await lastLogits(model, val.harmless, ablate(r), signal)).map((a, i) => klDivergence(baseHarmless[i], a))),
    induce: async (c, r) => score(await lastLogits(model, val.harmless, { add: [{ vector: r, layers: [c.layer], coefficient: 1 }], positions: 'all' }, signal)),
  };
}

export async function extractRefusalDirection(model: LoadedModel, opts: ExtractOptions): Promise<ExtractResult> {
  const L = model.info.layers;
  const n = postInstructionCount(model);
  const refusalTokens = refusalTokensOf(model.tokenizer, opts.refusalTokens);
  const progress = opts.progress ?? (() => {});
  const score = (logits: Float32Array[]) => logits.map((l) => refusalScore(l, refusalTokens));

  const texts = { harmfulTrain: opts.harmful.train.prompts, harmlessTrain: opts.harmless.train.prompts, harmfulVal: opts.harmful.val.prompts, harmlessVal: opts.harmless.val.prompts };
  let sets = {
    harmfulTrain: encodeChat(model, opts.harmful.train),
    harmlessTrain: encodeChat(model, opts.harmless.train),
    harmfulVal: encodeChat(model, opts.harmful.val),
    harmlessVal: encodeChat(model, opts.harmless.val),
  };
  if (opts.filterPrompts ?? true) {
    progress('Filtering prompts by the refusal metric', 0);
    const keep = async (key: keyof typeof sets, refused: boolean, what: string) => {
      const seqs = sets[key];
      const s = score(await lastLogits(model, seqs, undefined, opts.signal));
      const kept = seqs.map((_, i) => i).filter((i) => (refused ? s[i] > 0 : s[i] < 0));
      if (kept.length === 0) {
        throw new EngineError(
          'BAD_REQUEST',
          `after filtering by the refusal metric no ${what} prompt is left (scores ${Math.min(...s).toFixed(2)}..${Math.max(...s).toFixed(2)} with refusal tokens ` +
            `${JSON.stringify(model.tokenizer.tokenStrings(refusalTokens))}); the model may not ${refused ? 'refuse' : 'answer'} these prompts, or refuses with other words: ` +
            'set the refusal tokens, or turn prompt filtering off',
        );
      }
      texts[key] = kept.map((i) => texts[key][i]);
      return kept.map((i) => seqs[i]);
    };
    sets = {
      harmfulTrain: await keep('harmfulTrain', true, 'harmful training'),
      harmlessTrain: await keep('harmlessTrain', false, 'harmless training'),
      harmfulVal: await keep('harmfulVal', true, 'harmful validation'),
      harmlessVal: await keep('harmlessVal', false, 'harmless validation'),
    };
  }

  progress('Collecting activations', 0.05);
  const mu = await residualMeans(model, sets.harmfulTrain, n, opts.signal);
  const nu = await residualMeans(model, sets.harmlessTrain, n, opts.signal);
  const meanDiffs = mu.map((perPos, p) => perPos.map((m, l) => m.map((x, h) => x - nu[p][l][h])));

  const baseHarmless = await lastLogits(model, sets.harmlessVal, undefined, opts.signal);
  const scorer = candidateScorer(model, { harmful: sets.harmfulVal, harmless: sets.harmlessVal }, baseHarmless, refusalTokens, opts.signal);
  const rules = filterRules(L, opts);
  const pruneFrom = prunedFrom(L, opts);
  const failed = new Map<Candidate, FilterRule>();
  const judge = (c: Candidate) => {
    const rule = judgeCandidate(c, rules);
    if (rule) failed.set(c, rule);
  };
  const candidates: Candidate[] = [];
  const vectors = new Map<Candidate, number[]>();
  for (let p = 0; p < n; p++) {
    for (let l = 0; l < L; l++) {
      const r = Array.from(meanDiffs[p][l]);
      const c: Candidate = { position: p - n, layer: l, bypass: NaN, induce: NaN, kl: NaN, norm: Math.hypot(...r) };
      candidates.push(c);
      vectors.set(c, r);
    }
  }
  // A zero vector needs no scores to be filtered; nor, unless exhaustive, a pruned layer.
  const toScore = candidates.filter((c) => !rules[0].fails(c) && (opts.exhaustive || c.layer < pruneFrom));
  for (const c of candidates) {
    if (toScore.includes(c)) continue;
    if (!rules[0].fails(c)) c.skipped = `not scored: layers ≥ ${pruneFrom} are never selected`;
    judge(c);
  }
  const step = (done: number, total: number, what: string, c: Candidate) => {
    throwIfCancelled(opts.signal);
    progress(`Scoring candidate ${done + 1} of ${total}${what} (position ${c.position}, layer ${c.layer})`, 0.1 + (0.9 * done) / total);
  };
  if (opts.exhaustive) {
    for (const [i, c] of toScore.entries()) {
      step(i, toScore.length, '', c);
      const r = vectors.get(c)!;
      c.bypass = await scorer.bypass(c, r);
      c.kl = await scorer.kl(c, r);
      c.induce = await scorer.induce(c, r);
      judge(c);
    }
  } else {
    // Selection is the lowest bypass score among candidates that pass the filters, so the filters'
    // scores (KL, induce) are needed only in bypass order until one passes: about a third of the
    // exhaustive work when the best candidates pass. The stable sort keeps the reference code's tie order.
    const budget = toScore.length + 4;
    for (const [i, c] of toScore.entries()) {
      step(i, budget, ': bypass', c);
      c.bypass = await scorer.bypass(c, vectors.get(c)!);
    }
    const order = [...toScore].sort((a, b) => (Number.isNaN(a.bypass) ? 1 : 0) - (Number.isNaN(b.bypass) ? 1 : 0) || a.bypass - b.bypass || 0);
    let found: Candidate | undefined;
    let tried = 0;
    for (const c of order) {
      if (found) {
        c.skipped = `KL and induce not computed: its bypass score is not below the selected candidate's`;
        judge(c);
        continue;
      }
      if (Number.isFinite(c.bypass)) {
        step(Math.min(toScore.length + tried++, budget - 1), budget, ': KL and induce, in bypass order', c);
        const r = vectors.get(c)!;
        c.kl = await scorer.kl(c, r);
        // Judged on bypass and KL first: a candidate the KL filter drops needs no induce score.
        c.skipped = 'induce not computed: the KL filter already drops it';
        if (!judgeCandidate(c, rules)) {
          delete c.skipped;
          c.induce = await scorer.induce(c, r);
        }
      }
      judge(c);
      if (!c.filtered) found = c;
    }
  }
  progress('Selecting', 1);
  const selected = selectCandidate(candidates);
  const result: ExtractResult = {
    layers: L,
    positions: Array.from({ length: n }, (_, p) => p - n),
    refusalTokens,
    counts: {
      harmfulTrain: sets.harmfulTrain.length,
      harmlessTrain: sets.harmlessTrain.length,
      harmfulVal: sets.harmfulVal.length,
      harmlessVal: sets.harmlessVal.length,
    },
    candidates,
    meanDiffs,
    validation: { harmful: texts.harmfulVal, harmless: texts.harmlessVal },
  };
  if (selected) {
    result.selected = selected;
    result.vector = Array.from(meanDiffs[selected.position + n][selected.layer]);
  } else {
    // One line per rule, with the range of the value that failed it.
    const lines = rules.flatMap((rule) => {
      const hit = candidates.filter((c) => failed.get(c) === rule);
      if (!hit.length) return [];
      if (!rule.value) return [`${hit.length} × ${rule.name}`];
      const [label, of, digits] = rule.value;
      const [lo, hi] = [Math.min(...hit.map(of)), Math.max(...hit.map(of))].map((x) => x.toFixed(digits));
      return [`${hit.length} × ${rule.name} (${label} ${lo === hi ? lo : `${lo} to ${hi}`})`];
    });
    const best = candidates.filter((c) => Number.isFinite(c.bypass)).sort((a, b) => a.bypass - b.bypass)[0];
    result.report =
      `All ${candidates.length} candidates were filtered out: ` +
      lines.join('; ') +
      (best ? `. The lowest bypass score was ${best.bypass.toFixed(2)} at layer ${best.layer}, position ${best.position} (${best.filtered}).` : '.') +
      ' Try more prompts, a higher KL threshold, or a model whose refusals start with the refusal tokens.';
  }
  return result;
}

export interface ScoreCandidatesOptions extends FilterOptions {
  /** The extraction's validation prompts after filtering (ExtractResult.validation). */
  harmful: string[];
  harmless: string[];
  candidates: { position: number; layer: number; vector: number[] }[];
  refusalTokens?: number[];
  signal?: AbortSignal;
  progress?: (message: string, fraction?: number) => void;
}

/**
 * Every score of the given candidates, judged by the filters, exactly as exhaustive extraction
 * computes them (same prompts, same batches): fills in the candidates fast selection skipped.
 */
export async function scoreCandidates(model: LoadedModel, opts: ScoreCandidatesOptions): Promise<Candidate[]> {
  const refusalTokens = refusalTokensOf(model.tokenizer, opts.refusalTokens);
  const val = { harmful: encodeChat(model, { prompts: opts.harmful }), harmless: encodeChat(model, { prompts: opts.harmless }) };
  for (const c of opts.candidates) checkDirection(model.info, c);
  const baseHarmless = await lastLogits(model, val.harmless, undefined, opts.signal);
  const scorer = candidateScorer(model, val, baseHarmless, refusalTokens, opts.signal);
  const rules = filterRules(model.info.layers, opts);
  const out: Candidate[] = [];
  for (const [i, { position, layer, vector }] of opts.candidates.entries()) {
    throwIfCancelled(opts.signal);
    opts.progress?.(`Scoring candidate ${i + 1} of ${opts.candidates.length} (position ${position}, layer ${layer})`, i / opts.candidates.length);
    const c: Candidate = { position, layer, bypass: NaN, induce: NaN, kl: NaN, norm: Math.hypot(...vector) };
    c.bypass = await scorer.bypass(c, vector);
    c.kl = await scorer.kl(c, vector);
    c.induce = await scorer.induce(c, vector);
    judgeCandidate(c, rules);
    out.push(c);
  }
  return out;
}
