// The fused-attention pattern's masks and layouts, on random q and k: left padding (masked keys,
// positions counting real tokens only) gives the unpadded rows; packed q/k/v equals separate inputs;
// a sliding window and a soft cap change only what they should.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fusedPattern } from '../../../src/engine/heads/attention';
import { seededGaussian } from '../../../src/engine/runtime/random';

const [heads, kvHeads, d, seq, pad] = [4, 2, 8, 6, 3];
const g = seededGaussian(7);
const rand = (n: number) => Float32Array.from({ length: n }, g);
const angles = Array.from({ length: 32 }, (_, p) => Array.from({ length: d / 2 }, (_, i) => p * 10000 ** (-(2 * i) / d))).flat();
const rotary = { cos: { data: Float32Array.from(angles, Math.cos), dims: [32, d / 2] }, sin: { data: Float32Array.from(angles, Math.sin), dims: [32, d / 2] } };
const src = { kind: 'fused' as const, op: 'GroupQueryAttention', q: 'q', k: 'k', heads, kvHeads, softcap: 0, window: -1, rotary: { cos: 'c', sin: 's', interleaved: false } };
const q = rand(seq * heads * d);
const k = rand(seq * kvHeads * d);

test('left padding: masked keys get no attention and real rows equal the unpadded pattern', () => {
  const plain = fusedPattern(src, { data: q, dims: [1, seq, heads * d] }, { data: k, dims: [1, seq, kvHeads * d] }, d, 0, rotary);
  const padded = (x: Float32Array, width: number) => Float32Array.from([...rand(pad * width), ...x]);
  const total = seq + pad;
  const p = fusedPattern(src, { data: padded(q, heads * d), dims: [1, total, heads * d] }, { data: padded(k, kvHeads * d), dims: [1, total, kvHeads * d] }, d, pad, rotary);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < seq; i++) {
      for (let j = 0; j < total; j++) {
        const got = p[(h * total + i + pad) * total + j];
        const want = j < pad ? 0 : plain[(h * seq + i) * seq + j - pad];
        assert.ok(Math.abs(got - want) < 1e-6, `head ${h} query ${i} key ${j}: ${got} vs ${want}`);
      }
    }
  }
});

test('packed q/k/v (one input) gives the same pattern as separate q and k', () => {
  const v = rand(seq * kvHeads * d);
  const packed = new Float32Array(seq * (heads + 2 * kvHeads) * d);
  for (let s = 0; s < seq; s++) {
    packed.set(q.subarray(s * heads * d, (s + 1) * heads * d), s * (heads + 2 * kvHeads) * d);
    packed.set(k.subarray(s * kvHeads * d, (s + 1) * kvHeads * d), s * (heads + 2 * kvHeads) * d + heads * d);
    packed.set(v.subarray(s * kvHeads * d, (s + 1) * kvHeads * d), s * (heads + 2 * kvHeads) * d + (heads + kvHeads) * d);
  }
  const a = fusedPattern(src, { data: q, dims: [1, seq, heads * d] }, { data: k, dims: [1, seq, kvHeads * d] }, d, 0, rotary);
  const b = fusedPattern({ ...src, k: undefined }, { data: packed, dims: [1, seq, (heads + 2 * kvHeads) * d] }, undefined, d, 0, rotary);
  assert.deepEqual(b, a);
});

test('a sliding window keeps only the last keys; a soft cap keeps distributions', () => {
  const w = fusedPattern({ ...src, window: 2 }, { data: q, dims: [1, seq, heads * d] }, { data: k, dims: [1, seq, kvHeads * d] }, d, 0, rotary);
  for (let h = 0; h < heads; h++) for (let i = 0; i < seq; i++) for (let j = 0; j < seq; j++) if (j < i - 1 || j > i) assert.equal(w[(h * seq + i) * seq + j], 0);
  const c = fusedPattern({ ...src, softcap: 0.5 }, { data: q, dims: [1, seq, heads * d] }, { data: k, dims: [1, seq, kvHeads * d] }, d, 0, rotary);
  for (let r = 0; r < heads * seq; r++) assert.ok(Math.abs(c.subarray(r * seq, (r + 1) * seq).reduce((a, b) => a + b, 0) - 1) < 1e-6);
});
