// The logistic-probe baseline (probe.ts): fit on every other prompt, scored on the rest. Held-out
// accuracy is what makes it a baseline: on random labels a probe with as many weights as training
// prompts fits its training half exactly and is at chance on the other.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mat } from '../../../src/engine/directions/linalg';
import { probeAccuracy } from '../../../src/engine/directions/probe';
import { seededGaussian, seededRandom } from '../../../src/engine/runtime/random';

const data = (n: number, h: number, seed: number) => {
  const g = seededGaussian(seed);
  return mat(n, h, Array.from({ length: n * h }, g));
};

test('separable labels (sign of a fixed direction): the probe predicts the held-out half', () => {
  const x = data(80, 8, 1);
  const w = [1, -2, 0.5, 0, 0, 1, 0, 0];
  const labels = Array.from({ length: 80 }, (_, i) => w.reduce((s, wh, h) => s + wh * x.data[i * 8 + h], 0) > 0);
  assert.ok(probeAccuracy(x, labels) >= 0.8, `${probeAccuracy(x, labels)}`);
});

test('random labels: accuracy on the held-out half stays near chance (the training half is fit exactly)', () => {
  const x = data(40, 40, 2);
  const u = seededRandom(3);
  const labels = Array.from({ length: 40 }, () => u() < 0.5);
  const acc = probeAccuracy(x, labels);
  assert.ok(acc <= 0.75, `held-out accuracy ${acc} on random labels`);
});

test('a half without both labels gives NaN', () => {
  const x = data(8, 2, 4);
  assert.ok(Number.isNaN(probeAccuracy(x, [true, false, true, false, true, false, true, false])));
});
