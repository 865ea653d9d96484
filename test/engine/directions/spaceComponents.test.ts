// The safety space's per-component accuracy (space.ts): each component oriented so its projection
// correlates positively with refusal (SVD signs are arbitrary), and the threshold rule of Pan et al.
// (output_prediction_with_components.py: threshold = np.percentile(proj, 100 − refusal rate · 100),
// refused iff proj > threshold), written out here with numpy's linear interpolation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mat } from '../../../src/engine/directions/linalg';
import { decompose, thresholdAccuracy } from '../../../src/engine/directions/space';
import { seededGaussian, seededRandom } from '../../../src/engine/runtime/random';

/** numpy.percentile(xs, q) with the default linear interpolation. */
function percentile(xs: number[], q: number): number {
  const a = [...xs].sort((x, y) => x - y);
  const i = (q / 100) * (a.length - 1);
  const lo = Math.floor(i);
  return lo + 1 < a.length ? a[lo] + (i - lo) * (a[lo + 1] - a[lo]) : a[lo];
}

test("threshold accuracy equals Pan et al.'s percentile rule on random projections and labels", () => {
  const g = seededGaussian(21);
  const u = seededRandom(22);
  for (let trial = 0; trial < 50; trial++) {
    const n = 5 + Math.floor(u() * 40);
    const proj = Array.from({ length: n }, g);
    const labels = proj.map((p) => u() < 0.3 + 0.4 * Number(p > 0));
    const k = labels.filter(Boolean).length;
    if (k === 0 || k === n) continue;
    const threshold = percentile(proj, 100 - (100 * k) / n);
    const want = proj.filter((p, i) => p > threshold === labels[i]).length / n;
    assert.equal(thresholdAccuracy(proj, labels), want, `trial ${trial}`);
  }
  assert.equal(thresholdAccuracy([5, 4, 3, 2, 1], [true, true, false, false, false]), 1);
});

test('components are oriented towards refusal whatever sign the SVD gives: S and −S give opposite components, each predicting refusal', () => {
  const g = seededGaussian(23);
  const n = 30;
  const h = 6;
  // Refused rows (the first 12) carry +3 along dimension 0 of the shift, the others −3, plus noise.
  const labels = Array.from({ length: n }, (_, i) => i < 12);
  const shift = mat(n, h, Array.from({ length: n * h }, (_, j) => (j % h === 0 ? (labels[Math.floor(j / h)] ? 3 : -3) : 0) + 0.3 * g()));
  const negated = mat(n, h, shift.data.map((x) => -x));
  const a = decompose(shift, labels, shift, undefined, 0, 2);
  const b = decompose(negated, labels, negated, undefined, 0, 2);
  assert.ok(a.components[0][0] > 0.9, `component 0 of S points along +dimension 0: ${a.components[0]}`);
  assert.ok(b.components[0][0] < -0.9, `component 0 of −S points along −dimension 0: ${b.components[0]}`);
  assert.equal(a.accuracy[0], 1);
  assert.equal(b.accuracy[0], 1);
});
