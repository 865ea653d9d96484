// A plain TypeScript forward pass of the generated decoder (float64 accumulation), the ground truth
// the engine's ONNX graphs are checked against. Residuals are indexed like the engine's hooks:
// resid.0 = embedding, resid.2l+1 = after layer l's attention, resid.2l+2 = after its MLP.
import type { DecoderConfig } from './config';
import { DecoderWeights, lmHeadOf } from './weights';

/** Called with each writer's output [seq, hidden] before it is added (k = 0 embedding, 2l+1 attention, 2l+2 MLP). */
export type Intervene = (k: number, out: Float32Array) => void;

export interface ReferenceOutput {
  residuals: Float32Array[];
  /** [seq, vocab] */
  logits: Float32Array;
  /** Per layer: the o_proj input z [seq, heads·d] and the attention pattern [heads, seq (query), seq (key)]. */
  attention: { z: Float32Array; probs: Float32Array }[];
}

/** y [rows, outDim] = x [rows, inDim] · w [inDim, outDim] (+ bias), accumulated in float64. */
export type MatMul = (x: Float32Array, w: Float32Array, rows: number, inDim: number, outDim: number, bias?: Float32Array) => Float32Array;

export const matmul: MatMul = (x, w, rows, inDim, outDim, bias) => {
  const y = new Float32Array(rows * outDim);
  const acc = new Float64Array(outDim);
  for (let r = 0; r < rows; r++) {
    acc.fill(0);
    const xr = r * inDim;
    let i = 0;
    // Four input rows per pass over the accumulator: about twice as fast as one in V8.
    for (; i + 3 < inDim; i += 4) {
      const a = x[xr + i];
      const b = x[xr + i + 1];
      const c = x[xr + i + 2];
      const d = x[xr + i + 3];
      const r0 = i * outDim;
      const r1 = r0 + outDim;
      const r2 = r1 + outDim;
      const r3 = r2 + outDim;
      for (let o = 0; o < outDim; o++) acc[o] += a * w[r0 + o] + b * w[r1 + o] + c * w[r2 + o] + d * w[r3 + o];
    }
    for (; i < inDim; i++) {
      const a = x[xr + i];
      const r0 = i * outDim;
      for (let o = 0; o < outDim; o++) acc[o] += a * w[r0 + o];
    }
    for (let o = 0; o < outDim; o++) y[r * outDim + o] = acc[o] + (bias ? bias[o] : 0);
  }
  return y;
};

function rmsNorm(x: Float32Array, w: Float32Array, rows: number, h: number, eps: number): Float32Array {
  const y = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let i = 0; i < h; i++) ss += x[r * h + i] ** 2;
    const inv = 1 / Math.sqrt(ss / h + eps);
    for (let i = 0; i < h; i++) y[r * h + i] = x[r * h + i] * inv * w[i];
  }
  return y;
}

/** Rotary embedding, rotate-half convention, applied in place to [seq, nHeads·d]. */
export function rope(x: Float32Array, seq: number, nHeads: number, d: number, theta: number, offset = 0): void {
  const half = d / 2;
  for (let p = 0; p < seq; p++) {
    for (let hd = 0; hd < nHeads; hd++) {
      const base = p * nHeads * d + hd * d;
      for (let i = 0; i < half; i++) {
        const angle = (p + offset) * theta ** (-(2 * i) / d);
        const c = Math.cos(angle);
        const s = Math.sin(angle);
        const a = x[base + i];
        const b = x[base + i + half];
        x[base + i] = a * c - b * s;
        x[base + i + half] = b * c + a * s;
      }
    }
  }
}

function attention(q: Float32Array, k: Float32Array, v: Float32Array, seq: number, cfg: DecoderConfig): { z: Float32Array; probs: Float32Array } {
  const { heads, kvHeads, headDim: d } = cfg;
  const group = heads / kvHeads;
  const out = new Float32Array(seq * heads * d);
  const probs = new Float32Array(heads * seq * seq);
  const scores = new Float64Array(seq);
  for (let hd = 0; hd < heads; hd++) {
    const kv = Math.floor(hd / group);
    for (let i = 0; i < seq; i++) {
      let max = -Infinity;
      for (let j = 0; j <= i; j++) {
        let s = 0;
        for (let c = 0; c < d; c++) s += q[i * heads * d + hd * d + c] * k[j * kvHeads * d + kv * d + c];
        scores[j] = s / Math.sqrt(d);
        max = Math.max(max, scores[j]);
      }
      let total = 0;
      for (let j = 0; j <= i; j++) total += scores[j] = Math.exp(scores[j] - max);
      for (let j = 0; j <= i; j++) probs[(hd * seq + i) * seq + j] = scores[j] / total;
      for (let c = 0; c < d; c++) {
        let acc = 0;
        for (let j = 0; j <= i; j++) acc += (scores[j] / total) * v[j * kvHeads * d + kv * d + c];
        out[i * heads * d + hd * d + c] = acc;
      }
    }
  }
  return { z: out, probs };
}

export function referenceForward(cfg: DecoderConfig, w: DecoderWeights, ids: number[], intervene?: Intervene): ReferenceOutput {
  const { hidden: h } = cfg;
  const x = new Float32Array(ids.length * h);
  ids.forEach((id, p) => x.set(w.embed.subarray(id * h, (id + 1) * h), p * h));
  intervene?.(0, x);
  const attended: ReferenceOutput['attention'] = [];
  const residuals = [x, ...referenceBlocks(cfg, w, x, ids.length, 0, 2 * cfg.layers, { intervene, attended })];
  const final = rmsNorm(residuals[2 * cfg.layers], w.finalNorm, ids.length, h, cfg.rmsEps);
  return { residuals, logits: matmul(final, lmHeadOf(cfg, w), ids.length, h, cfg.vocabSize), attention: attended };
}

/**
 * Runs the writers after residual `from` up to residual `to` (indices as above: 2l+1 is layer l's
 * attention, 2l+2 its MLP) on x = residual `from` [seq, hidden]; returns residuals from+1..to. Lets
 * a caller that changes one layer re-run only the layers after it; `mm` replaces the matrix product
 * (e.g. one that skips the zeros of sparse weights); `attended` collects each attention block's z and pattern.
 */
export function referenceBlocks(cfg: DecoderConfig, w: DecoderWeights, x: Float32Array, seq: number, from: number, to: number, { intervene, mm = matmul, attended }: { intervene?: Intervene; mm?: MatMul; attended?: ReferenceOutput['attention'] } = {}): Float32Array[] {
  const { hidden: h, heads, kvHeads, headDim: d, intermediate: m } = cfg;
  const out: Float32Array[] = [];
  for (let k = from + 1; k <= to; k++) {
    const lw = w.layers[(k - 1) >> 1];
    let y: Float32Array;
    if (k % 2 === 1) {
      const xn = rmsNorm(x, lw.inputNorm, seq, h, cfg.rmsEps);
      const q = mm(xn, lw.q, seq, h, heads * d, lw.qBias);
      const kk = mm(xn, lw.k, seq, h, kvHeads * d, lw.kBias);
      const v = mm(xn, lw.v, seq, h, kvHeads * d, lw.vBias);
      rope(q, seq, heads, d, cfg.ropeTheta);
      rope(kk, seq, kvHeads, d, cfg.ropeTheta);
      const a = attention(q, kk, v, seq, cfg);
      attended?.push(a);
      y = mm(a.z, lw.o, seq, heads * d, h);
    } else {
      const xm = rmsNorm(x, lw.postNorm, seq, h, cfg.rmsEps);
      const gate = mm(xm, lw.gate, seq, h, m);
      const up = mm(xm, lw.up, seq, h, m);
      for (let i = 0; i < gate.length; i++) gate[i] = (gate[i] / (1 + Math.exp(-gate[i]))) * up[i];
      y = mm(gate, lw.down, seq, m, h);
    }
    intervene?.(k, y);
    const next = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) next[i] = x[i] + y[i];
    out.push((x = next));
  }
  return out;
}
