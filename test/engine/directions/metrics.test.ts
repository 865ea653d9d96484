import assert from 'node:assert/strict';
import { test } from 'node:test';
import { effectiveRank, klDivergence, logSoftmax, refusalScore } from '../../../src/engine/directions/metrics';

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

test('log-softmax of equal logits is -log n', () => {
  for (const x of logSoftmax([3, 3, 3, 3])) close(x, -Math.log(4));
});

test('refusal metric: hand-computed log-odds', () => {
  // softmax([ln 3, 0, 0]) = [3/5, 1/5, 1/5]; R = {0}: P = 0.6, score = ln(0.6) - ln(0.4) = ln 1.5.
  close(refusalScore([Math.log(3), 0, 0], [0]), Math.log(0.6 + 1e-8) - Math.log(0.4 + 1e-8));
  // R = {1, 2}: P = 0.4 -> ln(0.4/0.6) < 0 (complies more likely than refuses).
  close(refusalScore([Math.log(3), 0, 0], [1, 2]), Math.log(0.4 + 1e-8) - Math.log(0.6 + 1e-8));
  // Duplicates in R are counted once.
  close(refusalScore([Math.log(3), 0, 0], [0, 0]), refusalScore([Math.log(3), 0, 0], [0]));
  assert.throws(() => refusalScore([0, 0], [5]), /outside the vocabulary/);
  assert.throws(() => refusalScore([0, 0], []), /at least one refusal token/);
});

test('KL: zero for identical, hand-computed for two-token distributions', () => {
  close(klDivergence([1, 2, 3], [1, 2, 3]), 0, 1e-12);
  // p = [0.5, 0.5], q = [0.8, 0.2] (logits ln 4, 0): KL = 0.5 ln(0.5/0.8) + 0.5 ln(0.5/0.2) (smoothed).
  const want = 0.5 * (Math.log(0.5 + 1e-6) - Math.log(0.8 + 1e-6)) + 0.5 * (Math.log(0.5 + 1e-6) - Math.log(0.2 + 1e-6));
  close(klDivergence([0, 0], [Math.log(4), 0]), want);
});

test('effective rank at thresholds', () => {
  const ev = [6, 2, 1, 1]; // cumulative share 0.6, 0.8, 0.9, 1.0
  assert.equal(effectiveRank(ev, 0.4), 1);
  assert.equal(effectiveRank(ev, 0.6), 1);
  assert.equal(effectiveRank(ev, 0.7), 2);
  assert.equal(effectiveRank(ev, 0.8), 2);
  assert.equal(effectiveRank(ev, 0.9), 3);
  assert.throws(() => effectiveRank(ev, 0), /threshold/);
});
