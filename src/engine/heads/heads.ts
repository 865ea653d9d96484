// Per-head direct attribution to a direction and attention patterns (Arditi et al. 2024 §5): each
// head h of layer l writes z_h · W_O[h] into the residual stream (z the o_proj input, W_O[h] its
// rows for head h), so its direct contribution along the unit direction r̂ at a position is
// z_h · (W_O[h] r̂). The heads' sum plus bias · r̂ is the attention writer's projection, checked on
// every run against the graph's own residuals (resid_mid − resid_pre). Runs the heads variant of the
// instrumented graph in a session of its own, opened for the call and released after it.
import { readFileSync } from 'node:fs';
import { checkpoint } from '../cancel';
import { instrumentCached } from '../onnx/cache';
import type { HeadsLayerMeta } from '../onnx/heads';
import { initializerValues } from '../onnx/initializer';
import { decodeModel, onnx } from '../onnx/proto';
import { openDecoder } from '../runtime/open';
import { toFloat32 } from '../runtime/tensors';
import { residOutput } from '../onnx/instrument';
import { EngineError } from '../model/errors';
import { checkDirection, type LoadedModel } from '../directions/extract';
import type { DirectionRef } from '../../protocol';
import { dot } from '../directions/linalg';
import { unit } from '../directions/score';
import type { DecoderConfigInfo } from '../model/config';
import type { Engine } from '../engine';
import { fusedPattern, softmaxPattern, Tensor } from './attention';
import { projectOnto, readProjection } from './weights';

export interface HeadScore {
  layer: number;
  head: number;
  /** z_h · W_O[h] r̂ at the position. */
  contribution: number;
  /** Attention weights of the position's query over every token (0 after the position). */
  attention: number[];
}

export interface HeadsRun {
  ids: number[];
  tokens: string[];
  /** [first, end) of the user's instruction among the tokens. */
  instruction: [number, number];
  position: number;
  heads: HeadScore[];
  /** Per layer: o_proj bias · r̂, and the attention writer's own projection (resid_mid − resid_pre) · r̂. */
  layers: { layer: number; bias: number; writer: number; pattern: string }[];
  /** cos(resid_pre.l, r̂) at the position for l < L, and of resid_final at l = L. */
  cosines: number[];
}

/** What a heads analysis needs of the engine: the loaded model plus where its graphs are cached. */
export interface HeadsModel extends LoadedModel {
  config: DecoderConfigInfo;
  options: Engine['options'];
}

interface OpenHeads {
  run(ids: number[], r: number[], position: number): Promise<HeadsRun>;
  close(): Promise<void>;
}

async function openHeads(model: HeadsModel, signal?: AbortSignal, progress?: (m: string) => void): Promise<OpenHeads> {
  const { info, config } = model;
  const inst = await instrumentCached(info.onnxFile, { layers: info.layers, hidden: info.hiddenSize, cacheDir: model.options.cacheDir, heads: config.heads, signal, onProgress: progress });
  const meta = inst.meta.heads!;
  const graph = decodeModel(readFileSync(inst.path), inst.path).graph!;
  const inits = new Map((graph.initializer ?? []).map((t) => [t.name!, t]));
  const init = (name: string): onnx.ITensorProto => {
    const t = inits.get(name);
    if (!t) throw new EngineError('MODEL_INVALID', `initializer '${name}' is missing from the instrumented graph`);
    return t;
  };
  const projections = meta.map((m) => readProjection(m.projection, init, inst.weightsDir));
  const biases = meta.map((m) => (m.bias ? initializerValues(init(m.bias), inst.weightsDir) : undefined));
  const gammas = meta.map((m) => (m.postNorm ? initializerValues(init(m.postNorm.gamma), inst.weightsDir) : undefined));
  await checkpoint(signal);
  const dec = await openDecoder(inst, config, { threads: model.options.threads, provider: model.options.provider, padId: model.tokenizer.padId });
  const { heads: H, headDim: d, layers: L, hidden } = config;
  projections.forEach((p, l) => {
    if (p.inDim !== H * d || p.outDim !== hidden) throw new EngineError('MODEL_INVALID', `layer ${l}'s o_proj is ${p.inDim} × ${p.outDim}; config.json implies ${H * d} × ${hidden}`);
  });
  const fetch = [
    ...Array.from({ length: 2 * L + 1 }, (_, k) => residOutput(k)),
    ...meta.flatMap((m) => [m.z, ...(m.postNorm ? [m.postNorm.o] : []), ...patternOutputs(m)]),
  ];
  return {
    async run(ids, direction, position) {
      const r = unit(direction);
      const { outputs } = await dec.run({ ids: [ids], pads: [0], generated: 0 }, [ids.map(() => 1)], dec.emptyPast(1), undefined, fetch, false, 1);
      const get = (name: string): Tensor => ({ data: toFloat32(outputs[name]), dims: outputs[name].dims.map(Number) });
      const seq = ids.length;
      const resid = (k: number) => get(residOutput(k)).data;
      const at = position * hidden;
      const cosine = (x: Float32Array) => dot(x, r, at, 0, hidden) / (Math.sqrt(dot(x, x, at, at, hidden)) || 1);
      const heads: HeadScore[] = [];
      const layers: HeadsRun['layers'] = [];
      meta.forEach((m, l) => {
        // Through a post-attention RMS norm, W_O[h] writes along γ ⊙ r̂, scaled by 1/rms(o) at the position.
        const gamma = gammas[l];
        const along = gamma ? r.map((x, c) => x * gamma[c]) : r;
        let scale = 1;
        if (m.postNorm) {
          const o = get(m.postNorm.o).data;
          scale = 1 / Math.sqrt(dot(o, o, at, at, hidden) / hidden + m.postNorm.epsilon);
        }
        const u = projectOnto(projections[l], along);
        const z = get(m.z).data;
        const pattern = patternOf(m, get, d, H);
        for (let h = 0; h < H; h++) {
          let c = 0;
          for (let i = h * d; i < (h + 1) * d; i++) c += z[position * H * d + i] * u[i] * scale;
          const attention = pattern ? Array.from(pattern.subarray((h * seq + position) * seq, (h * seq + position + 1) * seq)) : [];
          heads.push({ layer: l, head: h, contribution: c, attention });
        }
        const before = resid(2 * l);
        const after = resid(2 * l + 1);
        let writer = 0;
        for (let c = 0; c < hidden; c++) writer += (after[position * hidden + c] - before[position * hidden + c]) * r[c];
        layers.push({ layer: l, bias: biases[l] ? dot(biases[l]!, along) * scale : 0, writer, pattern: m.pattern.kind === 'none' ? m.pattern.reason : m.pattern.kind === 'softmax' ? 'softmax' : `${m.pattern.op} (computed from q and k)` });
      });
      const cosines = Array.from({ length: L + 1 }, (_, l) => cosine(resid(2 * l)));
      return { ids, tokens: model.tokenizer.tokenStrings(ids), instruction: model.tokenizer.instructionSpan(ids), position, heads, layers, cosines };
    },
    close: () => dec.session.release(),
  };
}

function patternOutputs(m: HeadsLayerMeta): string[] {
  const p = m.pattern;
  if (p.kind === 'softmax') return [p.probs];
  if (p.kind === 'none') return [];
  return [p.q, ...(p.k ? [p.k] : []), ...(p.rotary ? [p.rotary.cos, p.rotary.sin] : [])];
}

/** [heads, seq, seq] or undefined when the layer's pattern cannot be read. */
function patternOf(m: HeadsLayerMeta, get: (name: string) => Tensor, headDim: number, heads: number): Float32Array | undefined {
  const p = m.pattern;
  if (p.kind === 'none') return undefined;
  if (p.kind === 'softmax') return softmaxPattern(get(p.probs), heads);
  const rotary = p.rotary && { cos: get(p.rotary.cos), sin: get(p.rotary.sin) };
  return fusedPattern(p, get(p.q), p.k ? get(p.k) : undefined, headDim, 0, rotary);
}

/** A position as given (negative: from the end) checked against the sequence. */
export function resolvePosition(position: number | undefined, length: number): number {
  const p = position === undefined ? length - 1 : position < 0 ? length + position : position;
  if (!Number.isInteger(p) || p < 0 || p >= length) throw new EngineError('BAD_REQUEST', `position ${position} is outside the prompt (${length} tokens; negative positions count from the end)`);
  return p;
}

export interface SuffixSection {
  suffix: string;
  /** The comparison suffix ('' : the prompt without any suffix). */
  baseline: string;
  /** The chat-encoded prompts with each suffix, their suffix tokens [first, end), per layer cosines at the last token. */
  runs: { suffix: RunSummary; baseline: RunSummary };
  /** Per layer (L: resid_final): cos(last-token activation, r̂) with the suffix and with the baseline. */
  cosines: { layer: number; suffix: number; baseline: number }[];
  /** The heads with the largest contribution to r̂ at the last position on the baseline, and what the suffix does to them. */
  top: {
    layer: number;
    head: number;
    contribution: { suffix: number; baseline: number };
    change: number;
    /** Share of the last position's attention on the instruction's own tokens and on the suffix tokens. */
    attention: { suffix: { instruction: number; suffix: number }; baseline: { instruction: number; suffix: number } };
  }[];
}

interface RunSummary {
  tokens: string[];
  instruction: [number, number];
  suffixTokens: [number, number];
  heads: HeadScore[];
}

export interface HeadsResult extends HeadsRun {
  direction: { layer: number };
  suffix?: SuffixSection;
}

export async function headsAnalysis(
  model: HeadsModel,
  prompt: string,
  direction: DirectionRef,
  opts: { position?: number; suffix?: string; baseline?: string; top?: number; signal?: AbortSignal; progress?: (message: string, fraction?: number) => void } = {},
): Promise<HeadsResult> {
  checkDirection(model.info, direction);
  if (opts.suffix !== undefined && !opts.suffix.trim()) throw new EngineError('BAD_REQUEST', 'the suffix is empty');
  const encode = (text: string) => model.tokenizer.encode(text, { chat: true }).ids;
  const ids = encode(prompt);
  const position = resolvePosition(opts.position, ids.length);
  opts.progress?.('Opening the per-head graph', 0);
  const open = await openHeads(model, opts.signal, (m) => opts.progress?.(m));
  try {
    await checkpoint(opts.signal);
    opts.progress?.('Attributing the direction to every head', 0.3);
    const main = await open.run(ids, direction.vector, position);
    if (opts.suffix === undefined) return { ...main, direction: { layer: direction.layer } };
    const baseline = opts.baseline?.trim() ?? '';
    const summary = async (suffix: string): Promise<RunSummary & { cosines: number[] }> => {
      const text = suffix ? `${prompt.trimEnd()} ${suffix.trim()}` : prompt;
      const sIds = encode(text);
      await checkpoint(opts.signal);
      const run = await open.run(sIds, direction.vector, sIds.length - 1);
      const [start, end] = run.instruction;
      const spans = model.tokenizer.spansIn(text, sIds, start, end);
      const own = prompt.trimEnd().length;
      // Spans are indexed by token; the suffix's tokens are the instruction's tokens that end past the prompt's own text.
      const first = suffix ? spans.findIndex((s, i) => i >= start && s !== null && s[1] > own) : -1;
      const suffixTokens: [number, number] = first < 0 ? [end, end] : [first, end];
      return { tokens: run.tokens, instruction: run.instruction, suffixTokens, heads: run.heads, cosines: run.cosines };
    };
    opts.progress?.('Running the prompt with the suffix', 0.6);
    const withSuffix = await summary(opts.suffix);
    opts.progress?.('Running the prompt with the comparison suffix', 0.8);
    const withBaseline = await summary(baseline);
    const share = (run: RunSummary, h: HeadScore) => {
      const sum = (a: number, b: number) => h.attention.slice(a, b).reduce((x, y) => x + y, 0);
      return { instruction: sum(run.instruction[0], run.suffixTokens[0]), suffix: sum(...run.suffixTokens) };
    };
    const top = withBaseline.heads
      .map((h, i) => ({ h, s: withSuffix.heads[i] }))
      .sort((a, b) => b.h.contribution - a.h.contribution)
      .slice(0, opts.top ?? 10)
      .map(({ h, s }) => ({
        layer: h.layer,
        head: h.head,
        contribution: { suffix: s.contribution, baseline: h.contribution },
        change: s.contribution - h.contribution,
        attention: { suffix: share(withSuffix, s), baseline: share(withBaseline, h) },
      }));
    const strip = ({ cosines: _c, ...rest }: RunSummary & { cosines: number[] }): RunSummary => rest;
    return {
      ...main,
      direction: { layer: direction.layer },
      suffix: {
        suffix: opts.suffix.trim(),
        baseline,
        runs: { suffix: strip(withSuffix), baseline: strip(withBaseline) },
        cosines: withSuffix.cosines.map((c, layer) => ({ layer, suffix: c, baseline: withBaseline.cosines[layer] })),
        top,
      },
    };
  } finally {
    await open.close();
  }
}
