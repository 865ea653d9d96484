// Builds the decoder graph in one of two real export styles, sharing everything but what differs:
// - torch: the torch/Optimum exporter: decomposed RMSNorm (fp32 island in fp16 models), plain
//   residual Adds, decomposed RoPE and attention, KV cache concatenated, position_ids input;
// - genai: the onnxruntime-genai builder: SimplifiedLayerNormalization, fused
//   SkipSimplifiedLayerNormalization carrying the residual, GroupQueryAttention with fused rotary.
import { DataType, onnx } from '../engine/onnx/proto';
import { GraphBuilder, FixtureDtype } from './builder';
import type { DecoderConfig } from './config';
import type { DecoderWeights, LayerWeights } from './weights';

export type ExportStyle = 'torch' | 'genai';
export type FixtureLayout = 'single' | 'split';

interface Shared {
  b: GraphBuilder;
  cfg: DecoderConfig;
  /** The graph's token input: input_ids, or inputs_embeds in the split layout. */
  tokens: string;
}

const EMBED_TABLE = 'model.embed_tokens.weight';
const EMBED_GATHER = '/model/embed_tokens/Gather';

/**
 * The residual stream's start: the lookup of input_ids, or (split layout) the inputs_embeds input,
 * whose decoder keeps a copy of the table only for a tied lm_head, as real split exports do.
 */
function embedTokens({ b, cfg, tokens }: Shared, w: DecoderWeights): string {
  if (tokens === 'input_ids') return b.embedding(tokens, w.embed, cfg.vocabSize, cfg.hidden, EMBED_TABLE, EMBED_GATHER);
  if (!w.lmHead) b.embeddingTable(w.embed, cfg.vocabSize, cfg.hidden, EMBED_TABLE);
  return tokens;
}

/** inv_freq of rotate-half RoPE: θ^(−2i/d) for i < d/2. */
function invFreq(cfg: DecoderConfig): number[] {
  return Array.from({ length: cfg.headDim / 2 }, (_, i) => cfg.ropeTheta ** (-(2 * i) / cfg.headDim));
}

function qkv({ b, cfg }: Shared, x: string, lw: LayerWeights, l: number, attnScope: string): [string, string, string] {
  const { hidden: h, heads, kvHeads, headDim: d } = cfg;
  const w = `model.layers.${l}.${attnScope.split('/').pop()}`;
  return [
    b.linear(x, lw.q, h, heads * d, `/model/layers.${l}/${attnScope}/q_proj`, `${w}.q_proj.weight`, lw.qBias),
    b.linear(x, lw.k, h, kvHeads * d, `/model/layers.${l}/${attnScope}/k_proj`, `${w}.k_proj.weight`, lw.kBias),
    b.linear(x, lw.v, h, kvHeads * d, `/model/layers.${l}/${attnScope}/v_proj`, `${w}.v_proj.weight`, lw.vBias),
  ];
}

function mlp({ b, cfg }: Shared, x: string, lw: LayerWeights, l: number): string {
  const s = `/model/layers.${l}/mlp`;
  const gate = b.linear(x, lw.gate, cfg.hidden, cfg.intermediate, `${s}/gate_proj`, `model.layers.${l}.mlp.gate_proj.weight`);
  const up = b.linear(x, lw.up, cfg.hidden, cfg.intermediate, `${s}/up_proj`, `model.layers.${l}.mlp.up_proj.weight`);
  const silu = b.op1('Mul', [gate, b.op1('Sigmoid', [gate], `${s}/act_fn/Sigmoid`)], `${s}/act_fn/Mul`);
  const h = b.op1('Mul', [silu, up], `${s}/Mul`);
  return b.linear(h, lw.down, cfg.intermediate, cfg.hidden, `${s}/down_proj`, `model.layers.${l}.mlp.down_proj.weight`);
}

function logits({ b, cfg }: Shared, x: string, w: DecoderWeights): void {
  const { hidden: h, vocabSize: v } = cfg;
  let out: string;
  if (w.lmHead) {
    out = b.linear(x, w.lmHead, h, v, '/lm_head', 'lm_head.weight');
  } else {
    // Tied: the exporter reuses the embedding table through a Transpose (never quantized).
    const e = EMBED_TABLE;
    const table = b.dtype === 'q8' ? b.op1('DequantizeLinear', [`${e}_quantized`, `${e}_scale`, `${e}_zero_point`], '/lm_head/DequantizeLinear') : e;
    const t = b.op1('Transpose', [table], '/lm_head/Transpose', { perm: [1, 0] });
    out = b.op1('MatMul', [x, t], '/lm_head/MatMul');
  }
  b.op('Cast', [out], '/lm_head/Cast', { to: DataType.FLOAT }, { outputs: ['logits'] });
  b.output('logits', DataType.FLOAT, ['batch_size', 'sequence_length', v]);
}

function cacheIO({ b, cfg }: Shared, l: number): { past: [string, string]; present: [string, string] } {
  const shape = (seq: string) => ['batch_size', cfg.kvHeads, seq, cfg.headDim];
  const past: [string, string] = [
    b.input(`past_key_values.${l}.key`, b.act, shape('past_sequence_length')),
    b.input(`past_key_values.${l}.value`, b.act, shape('past_sequence_length')),
  ];
  b.output(`present.${l}.key`, b.act, shape('total_sequence_length'));
  b.output(`present.${l}.value`, b.act, shape('total_sequence_length'));
  return { past, present: [`present.${l}.key`, `present.${l}.value`] };
}

// ---------------------------------------------------------------------------------------------
// torch / Optimum style

function torchNorm({ b, cfg }: Shared, x: string, weight: Float32Array, scope: string, weightName: string): string {
  const xf = b.toFloat(x, `${scope}/Cast`);
  const pow = b.op1('Pow', [xf, b.f32(`${scope}/Constant_2`, [], [2])], `${scope}/Pow`);
  const mean = b.op1('ReduceMean', [pow], `${scope}/ReduceMean`, { axes: [-1], keepdims: 1 });
  const eps = b.op1('Add', [mean, b.f32(`${scope}/Constant_eps`, [], [cfg.rmsEps])], `${scope}/Add`);
  const inv = b.op1('Reciprocal', [b.op1('Sqrt', [eps], `${scope}/Sqrt`)], `${scope}/Reciprocal`);
  const normed = b.toAct(b.op1('Mul', [xf, inv], `${scope}/Mul`), `${scope}/Cast_1`);
  return b.op1('Mul', [b.weight(weightName, [cfg.hidden], weight), normed], `${scope}/Mul_1`);
}

/** cos/sin [b, 1, s, d] from position_ids, shared by all layers (HF's rotary_emb). */
function torchRotary({ b, cfg }: Shared): [string, string] {
  const s = '/model/rotary_emb';
  const pos = b.op1('Cast', ['position_ids'], `${s}/Cast`, { to: DataType.FLOAT });
  const pos3 = b.op1('Unsqueeze', [pos, b.ints([-1])], `${s}/Unsqueeze`);
  const freqs = b.op1('Mul', [pos3, b.f32(`${s}/inv_freq`, [cfg.headDim / 2], invFreq(cfg))], `${s}/Mul`);
  const emb = b.op1('Concat', [freqs, freqs], `${s}/Concat`, { axis: -1 });
  const unsq = (t: string, n: string) => b.op1('Unsqueeze', [b.toAct(t, `${s}/${n}_Cast`), b.ints([1])], `${s}/${n}_Unsqueeze`);
  return [unsq(b.op1('Cos', [emb], `${s}/Cos`), 'cos'), unsq(b.op1('Sin', [emb], `${s}/Sin`), 'sin')];
}

function rotate({ b, cfg }: Shared, x: string, [cos, sin]: [string, string], scope: string): string {
  const half = cfg.headDim / 2;
  const x1 = b.op1('Slice', [x, b.ints([0]), b.ints([half]), b.ints([-1])], `${scope}/Slice`);
  const x2 = b.op1('Slice', [x, b.ints([half]), b.ints([cfg.headDim]), b.ints([-1])], `${scope}/Slice_1`);
  const rot = b.op1('Concat', [b.op1('Neg', [x2], `${scope}/Neg`), x1], `${scope}/Concat`, { axis: -1 });
  return b.op1('Add', [b.op1('Mul', [x, cos], `${scope}/Mul`), b.op1('Mul', [rot, sin], `${scope}/Mul_1`)], `${scope}/Add`);
}

/** Additive mask [b, 1, 1, s, t]: causal over absolute positions, and padding from attention_mask. */
function torchMask({ b, tokens }: Shared): string {
  const s = '/model/attn_mask';
  const dim = (t: string, i: number, n: string) => b.op1('Gather', [b.op1('Shape', [t], `${s}/Shape_${n}`), b.ints([i], true)], `${s}/Gather_${n}`);
  const total = dim('attention_mask', 1, 'total');
  const seq = dim(tokens, 1, 'seq');
  const past = b.op1('Sub', [total, seq], `${s}/Sub`);
  const one = b.ints([1], true);
  const rows = b.op1('Unsqueeze', [b.op1('Range', [past, total, one], `${s}/Range_rows`), b.ints([1])], `${s}/Unsqueeze_rows`);
  const cols = b.op1('Unsqueeze', [b.op1('Range', [b.ints([0], true), total, one], `${s}/Range_cols`), b.ints([0])], `${s}/Unsqueeze_cols`);
  const causal = b.op1('LessOrEqual', [cols, rows], `${s}/LessOrEqual`);
  const pad = b.op1('Unsqueeze', [b.op1('Cast', ['attention_mask'], `${s}/Cast`, { to: DataType.BOOL }), b.ints([1])], `${s}/Unsqueeze_pad`);
  const allowed = b.op1('And', [causal, pad], `${s}/And`);
  const mask = b.op1('Where', [allowed, b.f32(`${s}/zero`, [], [0]), b.f32(`${s}/min`, [], [-1e9])], `${s}/Where`);
  return b.op1('Unsqueeze', [mask, b.ints([1, 2])], `${s}/Unsqueeze`);
}

function torchAttention(sh: Shared, x: string, lw: LayerWeights, l: number, rotary: [string, string], mask: string): string {
  const { b, cfg } = sh;
  const { heads, kvHeads, headDim: d } = cfg;
  const s = `/model/layers.${l}/self_attn`;
  const [q, k, v] = qkv(sh, x, lw, l, 'self_attn');
  const split = (t: string, n: number, name: string) =>
    b.op1('Transpose', [b.op1('Reshape', [t, b.ints([0, 0, n, d])], `${s}/Reshape_${name}`)], `${s}/Transpose_${name}`, { perm: [0, 2, 1, 3] });
  const { past, present } = cacheIO(sh, l);
  const qr = rotate(sh, split(q, heads, 'q'), rotary, `${s}/q_rope`);
  const kr = rotate(sh, split(k, kvHeads, 'k'), rotary, `${s}/k_rope`);
  const keys = b.op('Concat', [past[0], kr], `${s}/Concat_k`, { axis: 2 }, { outputs: [present[0]] })[0];
  const values = b.op('Concat', [past[1], split(v, kvHeads, 'v')], `${s}/Concat_v`, { axis: 2 }, { outputs: [present[1]] })[0];
  // Grouped-query attention without copying keys: queries [b, kv, group, s, d] against keys [b, kv, 1, t, d].
  const q5 = b.op1('Reshape', [qr, b.ints([0, kvHeads, heads / kvHeads, -1, d])], `${s}/Reshape_q5`);
  const k5 = b.op1('Transpose', [b.op1('Unsqueeze', [keys, b.ints([2])], `${s}/Unsqueeze_k`)], `${s}/Transpose_k5`, { perm: [0, 1, 2, 4, 3] });
  const v5 = b.op1('Unsqueeze', [values, b.ints([2])], `${s}/Unsqueeze_v`);
  const scores = b.toFloat(b.op1('MatMul', [q5, k5], `${s}/MatMul`), `${s}/Cast_scores`);
  const scaled = b.op1('Mul', [scores, b.f32(`${s}/scale`, [], [1 / Math.sqrt(d)])], `${s}/Mul`);
  const probs = b.toAct(b.op1('Softmax', [b.op1('Add', [scaled, mask], `${s}/Add`)], `${s}/Softmax`, { axis: -1 }), `${s}/Cast_probs`);
  const ctx = b.op1('Reshape', [b.op1('MatMul', [probs, v5], `${s}/MatMul_1`), b.ints([0, heads, -1, d])], `${s}/Reshape_ctx`);
  const merged = b.op1('Reshape', [b.op1('Transpose', [ctx], `${s}/Transpose_ctx`, { perm: [0, 2, 1, 3] }), b.ints([0, 0, heads * d])], `${s}/Reshape_out`);
  return b.linear(merged, lw.o, heads * d, cfg.hidden, `${s}/o_proj`, `model.layers.${l}.self_attn.o_proj.weight`);
}

function torchDecoder(sh: Shared, w: DecoderWeights): void {
  const { b } = sh;
  b.input('position_ids', DataType.INT64, ['batch_size', 'sequence_length']);
  let x = embedTokens(sh, w);
  const rotary = torchRotary(sh);
  const mask = torchMask(sh);
  w.layers.forEach((lw, l) => {
    const s = `/model/layers.${l}`;
    const xn = torchNorm(sh, x, lw.inputNorm, `${s}/input_layernorm`, `model.layers.${l}.input_layernorm.weight`);
    x = b.op1('Add', [x, torchAttention(sh, xn, lw, l, rotary, mask)], `${s}/Add`);
    const xm = torchNorm(sh, x, lw.postNorm, `${s}/post_attention_layernorm`, `model.layers.${l}.post_attention_layernorm.weight`);
    x = b.op1('Add', [x, mlp(sh, xm, lw, l)], `${s}/Add_1`);
  });
  logits(sh, torchNorm(sh, x, w.finalNorm, '/model/norm', 'model.norm.weight'), w);
}

// ---------------------------------------------------------------------------------------------
// onnxruntime-genai builder style

function genaiDecoder(sh: Shared, w: DecoderWeights): void {
  const { b, cfg } = sh;
  const { hidden: h, heads, kvHeads, headDim: d } = cfg;
  const m = '/model/attn_mask_reformat/attn_mask_subgraph';
  const sum = b.op1('ReduceSum', ['attention_mask', b.ints([1])], `${m}/ReduceSum`, { keepdims: 0 });
  const seqlensK = b.op1('Cast', [b.op1('Sub', [sum, b.ints([1], true)], `${m}/Sub`)], `${m}/Sub/Cast`, { to: DataType.INT32 });
  const total = b.op1('Gather', [b.op1('Shape', ['attention_mask'], `${m}/Shape`), b.ints([1], true)], `${m}/Gather`);
  const totalLen = b.op1('Cast', [total], `${m}/Gather/Cast`, { to: DataType.INT32 });
  const angles = Array.from({ length: cfg.maxPositions }, (_, p) => invFreq(cfg).map((f) => p * f)).flat();
  const cos = b.weight('cos_cache', [cfg.maxPositions, d / 2], Float32Array.from(angles, Math.cos));
  const sin = b.weight('sin_cache', [cfg.maxPositions, d / 2], Float32Array.from(angles, Math.sin));

  const embed = embedTokens(sh, w);
  const gamma = (name: string, v: Float32Array) => b.weight(name, [h], v);
  let normed = b.op1('SimplifiedLayerNormalization', [embed, gamma('model.layers.0.input_layernorm.weight', w.layers[0].inputNorm)], '/model/layers.0/input_layernorm/LayerNorm', { axis: -1, epsilon: cfg.rmsEps, stash_type: 1 });
  const skip = (resid: string, sub: string, g: string, scope: string, keepSum: boolean) =>
    b.op('SkipSimplifiedLayerNormalization', [resid, sub, g], `${scope}/SkipLayerNorm`, { epsilon: cfg.rmsEps }, {
      outputs: keepSum ? [`${scope}/output_0`, '', '', `${scope}/output_3`] : [`${scope}/output_0`],
      domain: 'com.microsoft',
    });
  let resid = embed;
  w.layers.forEach((lw, l) => {
    const s = `/model/layers.${l}`;
    const [q, k, v] = qkv(sh, normed, lw, l, 'attn');
    const { past, present } = cacheIO(sh, l);
    const [attn] = b.op(
      'GroupQueryAttention',
      [q, k, v, past[0], past[1], seqlensK, totalLen, cos, sin],
      `${s}/attn/GroupQueryAttention`,
      { num_heads: heads, kv_num_heads: kvHeads, do_rotary: 1, rotary_interleaved: 0 },
      { outputs: [`${s}/attn/GroupQueryAttention/output_0`, present[0], present[1]], domain: 'com.microsoft' },
    );
    const o = b.linear(attn, lw.o, heads * d, h, `${s}/attn/o_proj`, `model.layers.${l}.attn.o_proj.weight`);
    const post = skip(resid, o, gamma(`model.layers.${l}.post_attention_layernorm.weight`, lw.postNorm), `${s}/post_attention_layernorm`, true);
    [normed, resid] = [post[0], post[3]];
    const down = mlp(sh, normed, lw, l);
    const last = l === cfg.layers - 1;
    const next = last
      ? skip(resid, down, gamma('model.norm.weight', w.finalNorm), `/model/layers.${cfg.layers}/final_norm_layernorm`, false)
      : skip(resid, down, gamma(`model.layers.${l + 1}.input_layernorm.weight`, w.layers[l + 1].inputNorm), `/model/layers.${l + 1}/input_layernorm`, true);
    [normed, resid] = [next[0], next[3]];
  });
  logits(sh, normed, w);
}

const builder = (style: ExportStyle, dtype: FixtureDtype) => new GraphBuilder(dtype, style === 'torch' ? (n, i) => `${n}_output_${i}` : (n, i) => `${n}/output_${i}`);

/** The decoder graph; in the split layout it takes inputs_embeds (from buildEmbedding's graph). */
export function buildDecoder(cfg: DecoderConfig, w: DecoderWeights, style: ExportStyle, dtype: FixtureDtype, layout: FixtureLayout = 'single'): onnx.IModelProto {
  const b = builder(style, dtype);
  const tokens = layout === 'split' ? b.input('inputs_embeds', b.act, ['batch_size', 'sequence_length', cfg.hidden]) : b.input('input_ids', DataType.INT64, ['batch_size', 'sequence_length']);
  b.input('attention_mask', DataType.INT64, ['batch_size', 'total_sequence_length']);
  (style === 'torch' ? torchDecoder : genaiDecoder)({ b, cfg, tokens }, w);
  return b.model();
}

/** The split layout's embedding graph (embed_tokens*.onnx): input_ids to inputs_embeds. */
export function buildEmbedding(cfg: DecoderConfig, w: DecoderWeights, style: ExportStyle, dtype: FixtureDtype): onnx.IModelProto {
  const b = builder(style, dtype);
  b.input('input_ids', DataType.INT64, ['batch_size', 'sequence_length']);
  b.embedding('input_ids', w.embed, cfg.vocabSize, cfg.hidden, EMBED_TABLE, EMBED_GATHER, 'inputs_embeds');
  b.output('inputs_embeds', b.act, ['batch_size', 'sequence_length', cfg.hidden]);
  return b.model();
}
