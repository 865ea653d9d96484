// Tools for planting a circuit into decoder weights by hand (the model organism): random bases,
// exact weight edits, off-circuit noise, and the reference forward pass resumed from the writer
// that changed, which calibration measures after every edit.
import { seededGaussian } from '../engine/runtime/random';
import type { DecoderConfig } from './config';
import { type MatMul, referenceBlocks } from './reference';
import type { DecoderWeights, LayerWeights } from './weights';

/** The first `count` rows of a random orthonormal basis of R^n (Gram-Schmidt of Gaussian vectors). */
export function orthonormalBasis(n: number, seed: number, count = n): Float64Array[] {
  const g = seededGaussian(seed);
  const basis: Float64Array[] = [];
  while (basis.length < count) {
    const v = Float64Array.from({ length: n }, g);
    for (const b of basis) {
      let d = 0;
      for (let i = 0; i < n; i++) d += v[i] * b[i];
      for (let i = 0; i < n; i++) v[i] -= d * b[i];
    }
    const norm = Math.hypot(...v);
    if (norm < 1e-6) continue;
    basis.push(v.map((x) => x / norm));
  }
  return basis;
}

/** Sets column `col` of m [in, cols] (MatMul layout) to scale · v: planted units carry no noise. */
export function setColumn(m: Float32Array, cols: number, v: ArrayLike<number>, col: number, scale: number): void {
  for (let i = 0; i < v.length; i++) m[i * cols + col] = scale * v[i];
}

/** Sets row `row` of m [rows, v.length] to scale · v. */
export function setRow(m: Float32Array, v: ArrayLike<number>, row: number, scale: number): void {
  for (let h = 0; h < v.length; h++) m[row * v.length + h] = scale * v[h];
}

/**
 * Every weight of the decoder but the embedding, as off-circuit noise (norm gains 1), drawn in a
 * fixed order. `small(n, widthRatio)` draws n weights of a matrix whose fan-in is widthRatio times
 * its fan-in at the default shape (hidden 64, intermediate 128).
 */
export function offCircuitWeights(config: DecoderConfig, small: (n: number, widthRatio: number) => Float32Array): { layers: LayerWeights[]; finalNorm: Float32Array; lmHead: Float32Array } {
  const { hidden, heads, kvHeads, headDim: q, intermediate, layers, vocabSize } = config;
  const ones = () => Float32Array.from({ length: hidden }, () => 1);
  const r = hidden / 64;
  return {
    layers: Array.from({ length: layers }, () => ({
      inputNorm: ones(),
      q: small(hidden * heads * q, r),
      k: small(hidden * kvHeads * q, r),
      v: small(hidden * kvHeads * q, r),
      o: small(heads * q * hidden, (heads * q) / 64),
      postNorm: ones(),
      gate: small(hidden * intermediate, r),
      up: small(hidden * intermediate, r),
      down: small(intermediate * hidden, intermediate / 128),
    })),
    finalNorm: ones(),
    lmHead: small(hidden * vocabSize, r),
  };
}

/** a += k·b, in place. */
export function addScaled(a: Float64Array, b: ArrayLike<number>, k: number): void {
  for (let i = 0; i < a.length; i++) a[i] += k * b[i];
}

export interface TrackedSequence {
  key: string;
  tokens: number[];
  /** Tokens after the prompt (the intended answer). */
  answer: number;
}

/**
 * Residuals of the calibration sequences through a model being planted, kept per writer and
 * recomputed only from the first writer that changed (the reference forward pass, resumed).
 */
export function residualTracker(cfg: DecoderConfig, weights: DecoderWeights, seqs: TrackedSequence[], sparse: boolean) {
  let w = weights;
  const state = new Map(seqs.map((sq) => [sq.key, { ...sq, residuals: [] as Float32Array[] }]));
  const get = (key: string) => {
    const st = state.get(key);
    if (!st) throw new Error(`'${key}' is not a calibration prompt`);
    return st;
  };
  // Sparse weights as rows of (column, value), built on first use and dropped when their layer changes.
  const rowsOf = new Map<Float32Array, { start: Int32Array; col: Int32Array; val: Float32Array }>();
  const mm: MatMul = (x, m, rows, inDim, outDim, bias) => {
    let csr = rowsOf.get(m);
    if (!csr) {
      let nnz = 0;
      for (const v of m) if (v !== 0) nnz++;
      csr = { start: new Int32Array(inDim + 1), col: new Int32Array(nnz), val: new Float32Array(nnz) };
      let k = 0;
      for (let i = 0; i < inDim; i++) {
        csr.start[i] = k;
        for (let o = 0; o < outDim; o++) {
          const v = m[i * outDim + o];
          if (v !== 0) [csr.col[k], csr.val[k++]] = [o, v];
        }
      }
      csr.start[inDim] = k;
      rowsOf.set(m, csr);
    }
    const { start, col, val } = csr;
    const y = new Float32Array(rows * outDim);
    const acc = new Float64Array(outDim);
    for (let r = 0; r < rows; r++) {
      acc.fill(0);
      for (let i = 0; i < inDim; i++) {
        const xi = x[r * inDim + i];
        for (let k = start[i]; k < start[i + 1]; k++) acc[col[k]] += xi * val[k];
      }
      for (let o = 0; o < outDim; o++) y[r * outDim + o] = acc[o] + (bias ? bias[o] : 0);
    }
    return y;
  };
  const changed = (k: number) => {
    for (const st of state.values()) st.residuals.length = Math.min(st.residuals.length, k);
    const lw = w.layers[(k - 1) >> 1];
    if (lw) for (const m of [lw.q, lw.k, lw.v, lw.o, lw.gate, lw.up, lw.down]) rowsOf.delete(m);
  };
  return {
    tokens: (key: string) => get(key).tokens,
    /** Residual k at position pos (−1: the last prompt position) of a sequence. */
    at(key: string, k: number, pos: number): Float32Array {
      const st = get(key);
      const seq = st.tokens.length;
      const h = cfg.hidden;
      if (!st.residuals.length) {
        const x = new Float32Array(seq * h);
        st.tokens.forEach((t, p) => x.set(w.embed.subarray(t * h, (t + 1) * h), p * h));
        st.residuals.push(x);
      }
      if (st.residuals.length <= k) st.residuals.push(...referenceBlocks(cfg, w, st.residuals[st.residuals.length - 1], seq, st.residuals.length - 1, k, sparse ? { mm } : {}));
      const p = pos < 0 ? seq - st.answer - 1 : pos;
      return st.residuals[k].subarray(p * h, (p + 1) * h);
    },
    /** Writer k (and so every later residual) changed. */
    changed,
    /** Continues with other weights that equal the current ones before writer k. */
    use(next: DecoderWeights, k: number) {
      w = next;
      changed(k);
    },
  };
}

/**
 * Sets each step's `noise` to the log-sum-exp of its logits over every token outside `planted`
 * (lm_head [hidden, vocab]), a few steps per pass over lm_head, skipping its zeros.
 */
export function noiseLogSumExp(steps: { x: Float64Array; noise: number }[], lmHead: Float32Array, vocab: number, planted: Set<number>): void {
  const hidden = steps[0]?.x.length ?? 0;
  const BLOCK = 16;
  for (let s0 = 0; s0 < steps.length; s0 += BLOCK) {
    const block = steps.slice(s0, s0 + BLOCK);
    const logits = block.map(() => new Float64Array(vocab));
    for (let h = 0; h < hidden; h++) {
      const row = lmHead.subarray(h * vocab, (h + 1) * vocab);
      const xh = block.map((st) => st.x[h]);
      for (let t = 0; t < vocab; t++) {
        const v = row[t];
        if (v !== 0) for (let j = 0; j < block.length; j++) logits[j][t] += xh[j] * v;
      }
    }
    block.forEach((st, j) => {
      let max = -Infinity;
      logits[j].forEach((v, t) => {
        if (!planted.has(t)) max = Math.max(max, v);
      });
      let total = 0;
      logits[j].forEach((v, t) => {
        if (!planted.has(t)) total += Math.exp(v - max);
      });
      st.noise = max + Math.log(total);
    });
  }
}

/** Cholesky factor of a symmetric positive-definite matrix (lower triangular, rows). */
export function cholesky(g: number[][]): number[][] {
  const n = g.length;
  const l = g.map(() => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = g[i][j];
      for (let k = 0; k < j; k++) s -= l[i][k] * l[j][k];
      l[i][j] = i === j ? Math.sqrt(s) : s / l[j][j];
    }
  }
  return l;
}

/** Inverse of a small symmetric positive-definite matrix through its Cholesky factor. */
export function inverseSpd(g: number[][]): number[][] {
  const n = g.length;
  const l = cholesky(g);
  return Array.from({ length: n }, (_, col) => {
    // Solve L y = e_col, then Lᵀ x = y.
    const y = new Array<number>(n).fill(0);
    for (let i = 0; i < n; i++) {
      let s = i === col ? 1 : 0;
      for (let k = 0; k < i; k++) s -= l[i][k] * y[k];
      y[i] = s / l[i][i];
    }
    const x = new Array<number>(n).fill(0);
    for (let i = n - 1; i >= 0; i--) {
      let s = y[i];
      for (let k = i + 1; k < n; k++) s -= l[k][i] * x[k];
      x[i] = s / l[i][i];
    }
    return x;
  });
}
