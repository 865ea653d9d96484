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

function matmul(x: Float32Array, w: Float32Array, rows: number, inDim: number, outDim: number, bias?: Float32Array): Float32Array {
  const y = new Float32Array(rows * outDim);
  const acc = new Float64Array(outDim);
  for (let r = 0; r < rows; r++) {
    acc.fill(0);
    for (let i = 0; i < inDim; i++) {
      const xi = x[r * inDim + i];
      if (xi === 0) continue;
      const row = i * outDim;
      for (let o = 0; o < outDim; o++) acc[o] += xi * w[row + o];
    }
    for (let o = 0; o < outDim; o++) y[r * outDim + o] = acc[o] + (bias ? bias[o] : 0);
  }
  return y;
}

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
  const { hidden: h, heads, kvHeads, headDim: d, intermediate: m } = cfg;
  const seq = ids.length;
  let x = new Float32Array(seq * h);
  ids.forEach((id, p) => x.set(w.embed.subarray(id * h, (id + 1) * h), p * h));
  intervene?.(0, x);
  const residuals = [x.slice()];
  const attended: ReferenceOutput['attention'] = [];
  const add = (out: Float32Array, k: number) => {
    intervene?.(k, out);
    const next = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) next[i] = x[i] + out[i];
    x = next;
    residuals.push(x.slice());
  };
  w.layers.forEach((lw, l) => {
    const xn = rmsNorm(x, lw.inputNorm, seq, h, cfg.rmsEps);
    const q = matmul(xn, lw.q, seq, h, heads * d, lw.qBias);
    const k = matmul(xn, lw.k, seq, h, kvHeads * d, lw.kBias);
    const v = matmul(xn, lw.v, seq, h, kvHeads * d, lw.vBias);
    rope(q, seq, heads, d, cfg.ropeTheta);
    rope(k, seq, kvHeads, d, cfg.ropeTheta);
    const a = attention(q, k, v, seq, cfg);
    attended.push(a);
    add(matmul(a.z, lw.o, seq, heads * d, h), 2 * l + 1);
    const xm = rmsNorm(x, lw.postNorm, seq, h, cfg.rmsEps);
    const gate = matmul(xm, lw.gate, seq, h, m);
    const up = matmul(xm, lw.up, seq, h, m);
    for (let i = 0; i < gate.length; i++) gate[i] = (gate[i] / (1 + Math.exp(-gate[i]))) * up[i];
    add(matmul(gate, lw.down, seq, m, h), 2 * l + 2);
  });
  const final = rmsNorm(x, w.finalNorm, seq, h, cfg.rmsEps);
  return { residuals, logits: matmul(final, lmHeadOf(cfg, w), seq, h, cfg.vocabSize), attention: attended };
}
