// Attention patterns of a fused attention op (GroupQueryAttention, MultiHeadAttention, opset-23
// Attention), computed from the q and k it was given: rotary applied as the op does (its own cos/sin
// caches, half or interleaved), scaled, soft-capped, causal, padding and sliding-window masked, and
// softmaxed per query head over the keys of its KV group. Checked against the Softmax of the
// decomposed graph of the same weights (test/engine/heads).
import type { PatternSource } from '../onnx/heads';
import { EngineError } from '../model/errors';

export interface Tensor {
  data: Float32Array;
  dims: number[];
}

type Fused = Extract<PatternSource, { kind: 'fused' }>;

/** Row-major [heads, seq, width] view of batch row 0 of a [b, s, heads·width] or [b, heads, s, width] tensor. */
function byHead(t: Tensor, heads: number, width: number, offset = 0, stride = heads * width): (h: number, s: number, c: number) => number {
  if (t.dims.length === 4) {
    const [, n, seq, w] = t.dims;
    if (n !== heads || w !== width) throw new EngineError('MODEL_INVALID', `expected ${heads} heads of ${width}, got a tensor of dims [${t.dims.join(', ')}]`);
    return (h, s, c) => t.data[(h * seq + s) * w + c];
  }
  return (h, s, c) => t.data[s * stride + offset + h * width + c];
}

/** Rotary on one head vector at `pos`: rotate-half pairs (i, i+rd/2) or interleaved pairs (2i, 2i+1). */
function rotate(x: Float64Array, pos: number, cos: Tensor, sin: Tensor, interleaved: boolean): void {
  const half = cos.dims[1];
  if (pos >= cos.dims[0]) throw new EngineError('BAD_REQUEST', `position ${pos} is past the rotary cache (${cos.dims[0]} positions)`);
  for (let i = 0; i < half; i++) {
    const [a, b] = interleaved ? [2 * i, 2 * i + 1] : [i, i + half];
    const c = cos.data[pos * half + i];
    const s = sin.data[pos * half + i];
    const [xa, xb] = [x[a], x[b]];
    x[a] = xa * c - xb * s;
    x[b] = xb * c + xa * s;
  }
}

/**
 * probs [heads, seq, seq] (query i, key j) of batch row 0, whose first `pad` positions are padding;
 * positions count real tokens only (as the engine feeds them).
 */
export function fusedPattern(src: Fused, q: Tensor, k: Tensor | undefined, headDim: number, pad: number, rotary?: { cos: Tensor; sin: Tensor }): Float32Array {
  const { heads, kvHeads } = src;
  const seq = q.dims.length === 4 ? q.dims[2] : q.dims[1];
  const packedWidth = (heads + 2 * kvHeads) * headDim;
  if (!k && q.dims[2] !== packedWidth) throw new EngineError('MODEL_INVALID', `packed q/k/v of width ${q.dims[2]}, expected ${packedWidth} (${heads}+2·${kvHeads} heads of ${headDim})`);
  const qAt = k ? byHead(q, heads, headDim) : byHead(q, heads, headDim, 0, packedWidth);
  const kAt = k ? byHead(k, kvHeads, headDim) : byHead(q, kvHeads, headDim, heads * headDim, packedWidth);
  const vec = (at: typeof qAt, h: number, s: number) => {
    const x = Float64Array.from({ length: headDim }, (_, c) => at(h, s, c));
    if (rotary) rotate(x, Math.max(0, s - pad), rotary.cos, rotary.sin, src.rotary!.interleaved);
    return x;
  };
  const keys = Array.from({ length: kvHeads }, (_, h) => Array.from({ length: seq }, (_, s) => vec(kAt, h, s)));
  const scale = src.scale ?? 1 / Math.sqrt(headDim);
  const group = heads / kvHeads;
  const out = new Float32Array(heads * seq * seq);
  const scores = new Float64Array(seq);
  for (let h = 0; h < heads; h++) {
    const kv = Math.floor(h / group);
    for (let i = pad; i < seq; i++) {
      const qi = vec(qAt, h, i);
      let max = -Infinity;
      const from = src.window > 0 ? Math.max(pad, i - src.window + 1) : pad;
      for (let j = from; j <= i; j++) {
        let s = 0;
        for (let c = 0; c < headDim; c++) s += qi[c] * keys[kv][j][c];
        s *= scale;
        if (src.softcap > 0) s = src.softcap * Math.tanh(s / src.softcap);
        scores[j] = s;
        max = Math.max(max, s);
      }
      let total = 0;
      for (let j = from; j <= i; j++) total += scores[j] = Math.exp(scores[j] - max);
      for (let j = from; j <= i; j++) out[(h * seq + i) * seq + j] = scores[j] / total;
    }
  }
  return out;
}

/** A decomposed graph's Softmax output [b, …heads…, seq, total] (heads possibly split as kv × group), batch row 0, as [heads, seq, total]. */
export function softmaxPattern(probs: Tensor, heads: number): Float32Array {
  const dims = probs.dims;
  const [seq, total] = dims.slice(-2);
  const n = dims.slice(1, -2).reduce((a, b) => a * b, 1);
  if (n !== heads) throw new EngineError('MODEL_INVALID', `the attention Softmax has dims [${dims.join(', ')}]: ${n} heads, config.json says ${heads}`);
  return probs.data.slice(0, heads * seq * total);
}
