// sample(): temperature divides the logits (a test multiplying it would fail), top-k and top-p cut
// the tail, and the draw follows the resulting distribution.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sample } from '../../../src/engine/runtime/generate';
import { seededRandom } from '../../../src/engine/runtime/random';

const logits = Float32Array.of(0, 1);

test('temperature divides the logits: T = 0.5 makes token 1 e² times as likely as token 0', () => {
  // softmax([0, 1] / 0.5): P(1) = 1 / (1 + e^-2) = 0.881 (multiplying would give 1 / (1 + e^-0.5) = 0.622).
  const p1 = 1 / (1 + Math.exp(-2));
  const pick = (u: number, temperature: number) => sample(logits, { temperature, seed: 0 }, () => u);
  assert.equal(pick(p1 - 0.01, 0.5), 1);
  assert.equal(pick(p1 + 0.01, 0.5), 0);
  // T = 2 flattens: P(1) = 1 / (1 + e^-0.5) = 0.622.
  assert.equal(pick(0.7, 2), 0);
  assert.equal(pick(0.6, 2), 1);
});

test('draws follow softmax(logits / T) over many seeded samples', () => {
  for (const temperature of [0.25, 0.5, 2]) {
    const rand = seededRandom(7);
    let ones = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) ones += sample(logits, { temperature, seed: 0 }, rand);
    const want = 1 / (1 + Math.exp(-1 / temperature));
    assert.ok(Math.abs(ones / n - want) < 0.015, `T ${temperature}: ${ones / n} vs ${want}`);
  }
});

test('top-k keeps the k most likely tokens; top-p the smallest head covering p', () => {
  const l = Float32Array.of(3, 2, 1, 0);
  for (const u of [0, 0.5, 0.999]) assert.ok([0, 1].includes(sample(l, { temperature: 1, topK: 2, seed: 0 }, () => u)));
  // softmax([3, 2, 1, 0]) = [0.644, 0.237, 0.087, 0.032]: p = 0.5 keeps token 0 alone.
  for (const u of [0, 0.5, 0.999]) assert.equal(sample(l, { temperature: 1, topP: 0.5, seed: 0 }, () => u), 0);
  assert.equal(sample(l, { temperature: 1, topP: 0.85, seed: 0 }, () => 0.99), 1);
});
