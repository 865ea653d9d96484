// The one real, runnable exporter graph (onnxruntime-genai builder, fp16, fused Skip norms,
// MultiHeadAttention + RotaryEmbedding) through instrumentation, steering and generation.
import assert from 'node:assert/strict';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { Decoder, createSession } from '../../../src/engine/runtime/decoder';
import { forward } from '../../../src/engine/runtime/forward';
import { generate } from '../../../src/engine/runtime/generate';
import { instrumentCached } from '../../../src/engine/onnx/cache';
import { openDecoder } from '../../../src/engine/runtime/open';
import { steeringTensors } from '../../../src/engine/runtime/steering';
import { toFloat32 } from '../../../src/engine/runtime/tensors';
import { needsRealModels, REAL_MODELS, tempDir } from '../../support/paths';

const MODEL = path.join(REAL_MODELS, 'genai-llama-tiny-fp16', 'onnx', 'model.onnx');
const SHAPE = { layers: 2, hidden: 16, kvHeads: 1, headDim: 16, vocabSize: 32000 };
const PROMPT = [0, 450, 4996, 17354, 1701, 29889, 322];
// fp16 graph: values are rounded to 11 significant bits inside, so equality is checked to a few
// half-precision ulps of the logits (|logit| < 1 here: ulp ≤ 2^-11 ≈ 4.9e-4).
const FP16_TOL = 2e-3;

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function unit(hidden: number, seed: number): number[] {
  const v = Array.from({ length: hidden }, (_, i) => Math.sin(seed * 7.3 + i * 1.7));
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

describe('real genai-builder fp16 graph', needsRealModels(), () => {
  let dec: Decoder;
  before(async () => {
    const instrumented = await instrumentCached(MODEL, { ...SHAPE, cacheDir: tempDir('genai') });
    dec = await openDecoder(instrumented, SHAPE, { padId: 2 });
  });

  test('zero steering reproduces the original logits', async () => {
    const plain = await createSession(MODEL, path.dirname(MODEL), {});
    const original = new Decoder(plain, dec.io, 2, 16, dec.cache, 2, false);
    const [a] = await forward(original, [PROMPT], { hooks: [], logits: 'all' });
    const [b] = await forward(dec, [PROMPT], { hooks: [], logits: 'all' });
    assert.ok(maxAbsDiff(a.logits!, b.logits!) <= FP16_TOL, `max diff ${maxAbsDiff(a.logits!, b.logits!)}`);
  });

  test('exposes 2·layers+1 residuals of width hidden', async () => {
    const [r] = await forward(dec, [PROMPT], { hooks: ['resid_pre.*', 'resid_mid.*', 'resid_final'], logits: 'none' });
    assert.deepEqual(Object.keys(r.residuals).sort(), ['resid_final', 'resid_mid.0', 'resid_mid.1', 'resid_pre.0', 'resid_pre.1']);
    for (const v of Object.values(r.residuals)) assert.equal(v.length, PROMPT.length * 16);
  });

  test('ablation leaves no component along the direction in any residual', async () => {
    const r = unit(16, 1);
    const steering = steeringTensors({ ablate: [r], positions: 'all' }, 2, 16);
    const [base] = await forward(dec, [PROMPT], { hooks: ['resid_pre.*', 'resid_final'], logits: 'none' });
    const [abl] = await forward(dec, [PROMPT], { hooks: ['resid_pre.*', 'resid_final'], logits: 'none', steering });
    for (const hook of Object.keys(abl.residuals)) {
      const x = abl.residuals[hook];
      for (let t = 0; t < PROMPT.length; t++) {
        const dot = r.reduce((acc, rh, h) => acc + rh * x[t * 16 + h], 0);
        assert.ok(Math.abs(dot) < 2e-3, `${hook} token ${t}: projection ${dot}`);
      }
    }
    // resid_pre.0 is the embedding: ablation must equal x - (x·r) r there exactly (up to fp16).
    const e = base.residuals['resid_pre.0'];
    const expected = new Float32Array(e.length);
    for (let t = 0; t < PROMPT.length; t++) {
      const dot = r.reduce((acc, rh, h) => acc + rh * e[t * 16 + h], 0);
      for (let h = 0; h < 16; h++) expected[t * 16 + h] = e[t * 16 + h] - dot * r[h];
    }
    assert.ok(maxAbsDiff(expected, abl.residuals['resid_pre.0']) < 2e-3);
  });

  test('addition at layer 1 shifts resid_pre.1 by the vector and leaves layer 0 alone', async () => {
    const a = unit(16, 2).map((x) => 0.5 * x);
    const steering = steeringTensors({ add: [{ vector: a, layers: [1], coefficient: 2 }], positions: 'all' }, 2, 16);
    const [base] = await forward(dec, [PROMPT], { hooks: ['resid_pre.*', 'resid_mid.0'], logits: 'none' });
    const [add] = await forward(dec, [PROMPT], { hooks: ['resid_pre.*', 'resid_mid.0'], logits: 'none', steering });
    assert.ok(maxAbsDiff(base.residuals['resid_mid.0'], add.residuals['resid_mid.0']) === 0);
    const shifted = base.residuals['resid_pre.1'].map((x, i) => x + 2 * a[i % 16]);
    assert.ok(maxAbsDiff(shifted, add.residuals['resid_pre.1']) < 4e-3);
  });

  test('last-position steering touches only the last prompt token', async () => {
    const a = unit(16, 3);
    const steering = steeringTensors({ add: [{ vector: a, layers: [0], coefficient: 1 }], positions: 'last' }, 2, 16);
    const [base] = await forward(dec, [PROMPT], { hooks: ['resid_pre.0'], logits: 'none' });
    const [add] = await forward(dec, [PROMPT], { hooks: ['resid_pre.0'], logits: 'none', steering });
    const n = PROMPT.length * 16;
    assert.equal(maxAbsDiff(base.residuals['resid_pre.0'].slice(0, n - 16), add.residuals['resid_pre.0'].slice(0, n - 16)), 0);
    const shifted = base.residuals['resid_pre.0'].slice(n - 16).map((x, h) => x + a[h]);
    assert.ok(maxAbsDiff(shifted, add.residuals['resid_pre.0'].slice(n - 16)) < 2e-3);
  });

  test('greedy generation with the KV cache equals generation without it, steered or not', async () => {
    for (const steering of [undefined, steeringTensors({ ablate: [unit(16, 4)], positions: 'all' }, 2, 16)]) {
      const opts = { maxNewTokens: 6, eosIds: [], hooks: ['resid_pre.1'], steering };
      const withCache = await generate(dec, PROMPT, { ...opts, useCache: true });
      const without = await generate(dec, PROMPT, { ...opts, useCache: false });
      assert.deepEqual(withCache.ids, without.ids);
      assert.equal(withCache.residuals['resid_pre.1'].length, 6 * 16);
      assert.ok(maxAbsDiff(withCache.residuals['resid_pre.1'], without.residuals['resid_pre.1']) < 4e-3);
    }
  });

  test('a batch with left padding matches each prompt alone', async () => {
    const short = PROMPT.slice(0, 4);
    const [alone] = await forward(dec, [short], { hooks: [], logits: 'last' });
    const batch = await forward(dec, [PROMPT, short], { hooks: [], logits: 'last' });
    assert.ok(maxAbsDiff(alone.logits!, batch[1].logits!) <= FP16_TOL);
  });

  test('cancellation stops generation between steps', async () => {
    const ctl = new AbortController();
    const out = await generate(dec, PROMPT, {
      maxNewTokens: 50, eosIds: [], hooks: [], useCache: true, signal: ctl.signal,
      onToken: (_id, i) => i === 2 && ctl.abort(),
    });
    assert.equal(out.stopReason, 'cancelled');
    assert.equal(out.ids.length, 3);
  });

  test('fp16 logits are decoded to fp32', () => {
    const t = new ort.Tensor('float16', Uint16Array.from([0x3c00, 0xc000]), [2]);
    assert.deepEqual(Array.from(toFloat32(t)), [1, -2]);
  });
});
