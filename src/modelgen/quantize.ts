// The weight encodings of transformers.js's dtypes, each with its exact inverse so the reference
// forward pass can run on the very values the quantized graph holds.
import { floatToHalf, halfToFloat } from '../engine/runtime/tensors';
import type { FixtureDtype } from './builder';
import type { DecoderConfig } from './config';
import type { DecoderWeights } from './weights';

/** Symmetric per-tensor int8 (ORT dynamic quantization, MatMulConstBOnly, QInt8). */
export function quantizeInt8(w: Float32Array): { q: Int8Array; scale: number } {
  let max = 0;
  for (const x of w) max = Math.max(max, Math.abs(x));
  const scale = max / 127 || 1;
  return { q: Int8Array.from(w, (x) => Math.max(-127, Math.min(127, Math.round(x / scale)))), scale };
}

export const dequantizeInt8 = ({ q, scale }: { q: Int8Array; scale: number }) => Float32Array.from(q, (x) => x * scale);

/** Asymmetric per-tensor uint8, as ORT quantizes an embedding Gather. */
export function quantizeUint8(w: Float32Array): { q: Uint8Array; scale: number; zeroPoint: number } {
  let lo = 0;
  let hi = 0;
  for (const x of w) {
    lo = Math.min(lo, x);
    hi = Math.max(hi, x);
  }
  const scale = (hi - lo) / 255 || 1;
  const zeroPoint = Math.round(-lo / scale);
  return { q: Uint8Array.from(w, (x) => Math.max(0, Math.min(255, Math.round(x / scale) + zeroPoint))), scale, zeroPoint };
}

export const dequantizeUint8 = ({ q, scale, zeroPoint }: { q: Uint8Array; scale: number; zeroPoint: number }) =>
  Float32Array.from(q, (x) => (x - zeroPoint) * scale);

export const Q4_BLOCK = 32;

/**
 * MatMulNBits 4-bit blocks of W [K, N] (MatMul layout): B [N, K/32, 16] two values per byte (even
 * index in the low nibble), one scale per (n, block), implicit zero point 8.
 */
export function quantizeQ4(w: Float32Array, k: number, n: number): { b: Uint8Array; scales: Float32Array } {
  if (k % Q4_BLOCK !== 0) throw new Error(`q4 needs the input size (${k}) to be a multiple of ${Q4_BLOCK}`);
  const blocks = k / Q4_BLOCK;
  const b = new Uint8Array(n * blocks * (Q4_BLOCK / 2));
  const scales = new Float32Array(n * blocks);
  for (let col = 0; col < n; col++) {
    for (let blk = 0; blk < blocks; blk++) {
      let max = 0;
      for (let j = 0; j < Q4_BLOCK; j++) max = Math.max(max, Math.abs(w[(blk * Q4_BLOCK + j) * n + col]));
      const scale = max / 7 || 1;
      scales[col * blocks + blk] = scale;
      for (let j = 0; j < Q4_BLOCK; j++) {
        const q = Math.max(0, Math.min(15, Math.round(w[(blk * Q4_BLOCK + j) * n + col] / scale) + 8));
        const byte = (col * blocks + blk) * (Q4_BLOCK / 2) + (j >> 1);
        b[byte] |= j & 1 ? q << 4 : q;
      }
    }
  }
  return { b, scales };
}

export function dequantizeQ4({ b, scales }: { b: Uint8Array; scales: Float32Array }, k: number, n: number): Float32Array {
  const blocks = k / Q4_BLOCK;
  const w = new Float32Array(k * n);
  for (let col = 0; col < n; col++) {
    for (let blk = 0; blk < blocks; blk++) {
      for (let j = 0; j < Q4_BLOCK; j++) {
        const byte = b[(col * blocks + blk) * (Q4_BLOCK / 2) + (j >> 1)];
        const q = j & 1 ? byte >> 4 : byte & 15;
        w[(blk * Q4_BLOCK + j) * n + col] = (q - 8) * scales[col * blocks + blk];
      }
    }
  }
  return w;
}

export const toHalf = (w: Float32Array) => Uint16Array.from(w, floatToHalf);
export const roundHalf = (w: Float32Array) => Float32Array.from(w, (x) => halfToFloat(floatToHalf(x)));

/**
 * The weights a graph of this dtype really holds (fp16-rounded, or quantized then dequantized), so
 * the reference forward pass computes with exactly the stored values.
 */
export function storedWeights(cfg: DecoderConfig, w: DecoderWeights, dtype: FixtureDtype): DecoderWeights {
  if (dtype === 'fp32') return w;
  if (dtype === 'fp16') {
    const r = (x?: Float32Array) => x && roundHalf(x);
    return {
      embed: roundHalf(w.embed),
      finalNorm: roundHalf(w.finalNorm),
      ...(w.lmHead ? { lmHead: roundHalf(w.lmHead) } : {}),
      layers: w.layers.map((l) => ({
        inputNorm: roundHalf(l.inputNorm), q: roundHalf(l.q), k: roundHalf(l.k), v: roundHalf(l.v), o: roundHalf(l.o),
        qBias: r(l.qBias), kBias: r(l.kBias), vBias: r(l.vBias),
        postNorm: roundHalf(l.postNorm), gate: roundHalf(l.gate), up: roundHalf(l.up), down: roundHalf(l.down),
      })),
    };
  }
  const { hidden: h, heads, kvHeads, headDim: d, intermediate: m, vocabSize: v } = cfg;
  const lin = (x: Float32Array, k: number, n: number) =>
    dtype === 'q8' ? dequantizeInt8(quantizeInt8(x)) : dequantizeQ4(quantizeQ4(x, k, n), k, n);
  return {
    // q8 quantizes the embedding Gather too (and a tied lm_head reads the dequantized table).
    embed: dtype === 'q8' ? dequantizeUint8(quantizeUint8(w.embed)) : w.embed,
    finalNorm: w.finalNorm,
    ...(w.lmHead ? { lmHead: lin(w.lmHead, h, v) } : {}),
    layers: w.layers.map((l) => ({
      ...l,
      q: lin(l.q, h, heads * d),
      k: lin(l.k, h, kvHeads * d),
      v: lin(l.v, h, kvHeads * d),
      o: lin(l.o, heads * d, h),
      gate: lin(l.gate, h, m),
      up: lin(l.up, h, m),
      down: lin(l.down, m, h),
    })),
  };
}
