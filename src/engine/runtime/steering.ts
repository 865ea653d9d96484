// Turns a protocol Steering request into the instrumented graph's three steering inputs.
import type { Positions, SteeringParsed } from '../../protocol';
import { EngineError } from '../model/errors';

export interface SteeringTensors {
  /** [H, K] column-major basis as the graph wants it: row h holds component h of each basis vector. */
  basis: Float32Array;
  rank: number;
  /** [2L+1, H]: row k is added by writer k. */
  add: Float32Array;
  positions: Positions;
  /** True when nothing is steered (all zeros). */
  off: boolean;
}

/** Gram-Schmidt in float64; rejects vectors that are (numerically) inside the span of earlier ones. */
export function orthonormalize(vectors: number[][], hidden: number): Float64Array[] {
  const out: Float64Array[] = [];
  vectors.forEach((v, i) => {
    if (v.length !== hidden) {
      throw new EngineError('BAD_REQUEST', `ablation vector ${i} has length ${v.length}, but the model's hidden size is ${hidden}`);
    }
    const u = Float64Array.from(v);
    const norm0 = Math.hypot(...u);
    for (const b of out) {
      let dot = 0;
      for (let h = 0; h < hidden; h++) dot += u[h] * b[h];
      for (let h = 0; h < hidden; h++) u[h] -= dot * b[h];
    }
    const norm = Math.hypot(...u);
    if (!(norm > 1e-6 * Math.max(norm0, 1e-30)) || norm0 === 0) {
      throw new EngineError('BAD_REQUEST', `ablation vector ${i} is zero or linearly dependent on the earlier ones`);
    }
    for (let h = 0; h < hidden; h++) u[h] /= norm;
    out.push(u);
  });
  return out;
}

export function steeringTensors(steering: SteeringParsed | undefined, layers: number, hidden: number): SteeringTensors {
  const writers = 2 * layers + 1;
  const add = new Float32Array(writers * hidden);
  const basisVectors = steering?.ablate ? orthonormalize(steering.ablate, hidden) : [];
  const rank = Math.max(1, basisVectors.length);
  const basis = new Float32Array(hidden * rank);
  basisVectors.forEach((b, j) => b.forEach((x, h) => (basis[h * rank + j] = x)));
  for (const [i, a] of (steering?.add ?? []).entries()) {
    if (a.vector.length !== hidden) {
      throw new EngineError('BAD_REQUEST', `addition ${i}: vector has length ${a.vector.length}, but the model's hidden size is ${hidden}`);
    }
    for (const l of a.layers) {
      if (l > layers) throw new EngineError('BAD_REQUEST', `addition ${i}: layer ${l} does not exist (the model has layers 0..${layers - 1}; ${layers} is the final norm's input)`);
      // resid_pre of layer l is resid.2l, which writer 2l produces; layer L is the final norm's input.
      for (let h = 0; h < hidden; h++) add[2 * l * hidden + h] += a.coefficient * a.vector[h];
    }
  }
  return {
    basis,
    rank,
    add,
    positions: steering?.positions ?? 'all',
    off: basisVectors.length === 0 && !add.some((x) => x !== 0),
  };
}

/**
 * Steering mask for one row: `pad` padding tokens, `prompt` prompt tokens, then `generated` tokens
 * produced by decoding. 'all' covers every real token, 'last' the last prompt token and every
 * generated one, explicit positions only those prompt positions (negative counts from the end).
 */
export function maskRow(positions: Positions, pad: number, prompt: number, generated: number): Float32Array {
  const row = new Float32Array(pad + prompt + generated);
  if (positions === 'all') return row.fill(1, pad);
  if (positions === 'last') {
    if (prompt > 0) row[pad + prompt - 1] = 1;
    return row.fill(1, pad + prompt);
  }
  if (prompt === 0) return row;
  for (const p of positions) {
    const i = p < 0 ? prompt + p : p;
    if (i < 0 || i >= prompt) {
      throw new EngineError('BAD_REQUEST', `steering position ${p} is outside the prompt (${prompt} tokens)`);
    }
    row[pad + i] = 1;
  }
  return row;
}
