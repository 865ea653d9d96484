// Explicit decoder weights. Matrices are stored in ONNX MatMul layout [in, out] (y = x W), so the
// same arrays feed the graph writer, the quantizers and the reference forward pass.
import { seededGaussian } from '../engine/runtime/random';
import type { DecoderConfig } from './config';

export interface LayerWeights {
  inputNorm: Float32Array;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  o: Float32Array;
  qBias?: Float32Array;
  kBias?: Float32Array;
  vBias?: Float32Array;
  postNorm: Float32Array;
  gate: Float32Array;
  up: Float32Array;
  down: Float32Array;
}

export interface DecoderWeights {
  /** [vocab, hidden] */
  embed: Float32Array;
  layers: LayerWeights[];
  finalNorm: Float32Array;
  /** [hidden, vocab]; absent when the embeddings are tied (lm_head = embedᵀ). */
  lmHead?: Float32Array;
}

/** Random weights scaled so activations stay O(1) through every layer and logits are not flat. */
export function randomWeights(cfg: DecoderConfig, seed: number): DecoderWeights {
  const g = seededGaussian(seed);
  const matrix = (rows: number, cols: number, scale = 1 / Math.sqrt(rows)) => Float32Array.from({ length: rows * cols }, () => g() * scale);
  const norm = (n: number) => Float32Array.from({ length: n }, () => 1 + 0.1 * g());
  const { hidden: h, heads, kvHeads, headDim: d, intermediate: m, vocabSize: v } = cfg;
  return {
    embed: matrix(v, h, 1),
    layers: Array.from({ length: cfg.layers }, () => ({
      inputNorm: norm(h),
      q: matrix(h, heads * d),
      k: matrix(h, kvHeads * d),
      v: matrix(h, kvHeads * d),
      o: matrix(heads * d, h, 0.5 / Math.sqrt(heads * d)),
      ...(cfg.qkvBias ? { qBias: matrix(1, heads * d, 0.1), kBias: matrix(1, kvHeads * d, 0.1), vBias: matrix(1, kvHeads * d, 0.1) } : {}),
      postNorm: norm(h),
      gate: matrix(h, m),
      up: matrix(h, m),
      down: matrix(m, h, 0.5 / Math.sqrt(m)),
    })),
    finalNorm: norm(h),
    ...(cfg.tiedEmbeddings ? {} : { lmHead: matrix(h, v, 2 / Math.sqrt(h)) }),
  };
}

/** lm_head in [hidden, vocab] layout, whether tied or not. */
export function lmHeadOf(cfg: DecoderConfig, w: DecoderWeights): Float32Array {
  if (w.lmHead) return w.lmHead;
  const out = new Float32Array(cfg.hidden * cfg.vocabSize);
  for (let t = 0; t < cfg.vocabSize; t++) for (let h = 0; h < cfg.hidden; h++) out[h * cfg.vocabSize + t] = w.embed[t * cfg.hidden + h];
  return out;
}
