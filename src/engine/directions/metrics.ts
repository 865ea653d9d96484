// The scalar measures of Arditi et al. (refusal metric, KL on the next-token distribution) and of
// Pan et al. (effective rank), computed in float64 exactly as the reference code does.

/** log-softmax of a logit vector, in float64. */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i] - lse;
  return out;
}

/**
 * Refusal metric at one position: P = Σ_{t∈R} softmax(logits)_t, score = log(P + 1e-8) − log(1 − P + 1e-8).
 * Positive means the model is more likely than not to start a refusal.
 */
export function refusalScore(logits: ArrayLike<number>, refusalTokens: number[]): number {
  if (refusalTokens.length === 0) throw new Error('refusal metric needs at least one refusal token');
  const lp = logSoftmax(logits);
  let p = 0;
  for (const t of new Set(refusalTokens)) {
    if (t < 0 || t >= lp.length) throw new Error(`refusal token ${t} is outside the vocabulary (size ${lp.length})`);
    p += Math.exp(lp[t]);
  }
  return Math.log(p + 1e-8) - Math.log(1 - p + 1e-8);
}

/** KL(p ‖ q) of the distributions given by two logit vectors, with the reference code's 1e-6 smoothing. */
export function klDivergence(logitsP: ArrayLike<number>, logitsQ: ArrayLike<number>): number {
  if (logitsP.length !== logitsQ.length) throw new Error(`KL of distributions over ${logitsP.length} and ${logitsQ.length} tokens`);
  const lp = logSoftmax(logitsP);
  const lq = logSoftmax(logitsQ);
  let kl = 0;
  for (let i = 0; i < lp.length; i++) {
    const p = Math.exp(lp[i]);
    kl += p * (Math.log(p + 1e-6) - Math.log(Math.exp(lq[i]) + 1e-6));
  }
  return kl;
}

/** Smallest k with Σ_{i<k} λ_i ≥ τ Σ λ (λ sorted descending). */
export function effectiveRank(eigenvalues: ArrayLike<number>, tau: number): number {
  if (!(tau > 0 && tau <= 1)) throw new Error(`effective rank threshold must be in (0, 1], got ${tau}`);
  let total = 0;
  for (let i = 0; i < eigenvalues.length; i++) total += Math.max(0, eigenvalues[i]);
  if (total === 0) return 0;
  let acc = 0;
  for (let i = 0; i < eigenvalues.length; i++) {
    acc += Math.max(0, eigenvalues[i]);
    if (acc >= tau * total - 1e-12 * total) return i + 1;
  }
  return eigenvalues.length;
}
