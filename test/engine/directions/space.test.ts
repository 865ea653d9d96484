// The safety residual space's per-layer decomposition on hand-built shifts whose spectrum is known.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mat } from '../../../src/engine/directions/linalg';
import { decompose } from '../../../src/engine/directions/space';

test('effective rank counts the whole spectrum, also when it is wider than 64 components', () => {
  // 200 rows, each along its own hidden dimension: 200 equal eigenvalues, so the effective rank at
  // τ is ⌈200 τ⌉ (a spectrum cut at 64 gave 55 at τ 0.9 on such a shift).
  const n = 250;
  const h = 256;
  const shift = mat(n, h);
  for (let i = 0; i < 200; i++) shift.data[i * h + i] = 1;
  const aligned = mat(n, h, Array.from({ length: n * h }, (_, i) => (i % (h + 1) === 0 ? 10 : 0)));
  const labels = Array.from({ length: n }, (_, i) => i % 2 === 0);
  const layer = decompose(shift, labels, aligned, undefined, 3, 6);
  assert.deepEqual(layer.effectiveRank, { '0.4': 80, '0.5': 100, '0.6': 120, '0.7': 140, '0.8': 160, '0.9': 180 });
  assert.equal(layer.eigenvalues.length, 64, 'the stored spectrum is the first 64 eigenvalues');
  assert.ok(layer.eigenvalues.every((x) => Math.abs(x - 1 / (n - 1)) < 1e-12));
  assert.equal(layer.components.length, 6);
});

test('effective rank of a decaying spectrum matches the eigenvalues computed by hand', () => {
  // Row i along dimension i with weight √(100 − i): eigenvalues ∝ 100, 99, ..., 1 (total 5050).
  const n = 100;
  const h = 128;
  const shift = mat(n, h);
  for (let i = 0; i < n; i++) shift.data[i * h + i] = Math.sqrt(100 - i);
  const aligned = mat(n, h, Array.from({ length: n * h }, (_, i) => (i % (h + 1) === 0 ? 50 : 0)));
  const layer = decompose(shift, Array.from({ length: n }, (_, i) => i < 30), aligned, undefined, 0, 4);
  const byHand = (tau: number) => {
    let acc = 0;
    for (let k = 0; k < n; k++) if ((acc += 100 - k) >= tau * 5050 - 1e-9) return k + 1;
    return n;
  };
  for (const tau of [0.4, 0.5, 0.6, 0.7, 0.8, 0.9]) assert.equal(layer.effectiveRank[tau.toFixed(1)], byHand(tau), `τ ${tau}`);
  assert.ok(layer.effectiveRank['0.9'] > 64, 'this spectrum needs more than 64 components at τ 0.9');
});
