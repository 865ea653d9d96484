// Fixture models run by a real onnxruntime session agree with the plain TypeScript reference.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { forward } from '../../src/engine/runtime/forward';
import { generate } from '../../src/engine/runtime/generate';
import { ChatTokenizer } from '../../src/engine/model/tokenizer';
import { referenceForward } from '../../src/modelgen';
import { assertSameDecode, fixture, maxAbs, maxAbsDiff, plainDecoder } from '../support/fixtures';

/**
 * Tolerances against the reference (which computes in float64 with the stored weights):
 * - fp32 and q4 (MatMulNBits dequantizes to fp32 and accumulates in fp32): 1e-4 absolute;
 * - fp16: every activation is rounded to 11 significant bits (relative 2^-11) through ~12 ops per
 *   layer and 4 layers, so allow 2% of the largest logit;
 * - q8: activations are quantized per tensor to 8 bits (step = range/255, i.e. up to 0.4% of the
 *   range per MatMul input, 7 MatMuls per layer), so allow 8% of the largest logit.
 */
function tolerance(dtype: string, logits: Float32Array): number {
  if (dtype === 'fp16') return 0.02 * maxAbs(logits);
  if (dtype === 'q8') return 0.08 * maxAbs(logits);
  return 1e-4;
}

const IDS = [1, 30, 40, 50, 60, 70, 2, 1, 5];

const VARIANTS = [
  { tied: false, qkvBias: false },
  { tied: true, qkvBias: true },
];

for (const style of ['torch', 'genai'] as const) {
  for (const dtype of ['fp32', 'fp16', 'q8', 'q4'] as const) {
    describe(`${style} ${dtype} fixture`, () => {
      for (const v of VARIANTS) {
        test(`${v.tied ? 'tied' : 'untied'} embeddings, ${v.qkvBias ? 'q/k/v biases (Qwen2)' : 'no biases (Llama)'}: logits match the reference`, async () => {
          const fx = fixture({ style, dtype, seed: 3, config: { tiedEmbeddings: v.tied, qkvBias: v.qkvBias } });
          const dec = await plainDecoder(fx);
          const [out] = await forward(dec, [IDS], { hooks: [], logits: 'all' });
          const ref = referenceForward(fx.config, fx.weights, IDS).logits;
          const tol = tolerance(dtype, ref);
          const diff = maxAbsDiff(out.logits!, ref);
          assert.ok(diff <= tol, `max abs diff ${diff} > ${tol}`);
        });
      }

      test('a KV-cached decode equals full forward passes', async () => {
        const fx = fixture({ style, dtype, seed: 4, config: { kvHeads: 1 } });
        const dec = await plainDecoder(fx);
        const opts = { maxNewTokens: 5, eosIds: [], hooks: [], keepLogits: true };
        const cached = await generate(dec, IDS, { ...opts, useCache: true });
        const full = await generate(dec, IDS, { ...opts, useCache: false });
        const tol = dtype === 'fp32' || dtype === 'q4' ? 1e-4 : tolerance(dtype, full.stepLogits![0]);
        assertSameDecode(cached, full, dtype, tol);
      });
    });
  }
}

test('torch style: a left-padded batch gives each prompt the logits it gets alone', async () => {
  const fx = fixture({ style: 'torch', dtype: 'fp32' });
  const dec = await plainDecoder(fx);
  const short = IDS.slice(0, 4);
  const [alone] = await forward(dec, [short], { hooks: [], logits: 'all' });
  const batch = await forward(dec, [IDS, short], { hooks: [], logits: 'all' });
  assert.ok(maxAbsDiff(alone.logits!, batch[1].logits!) <= 1e-4);
});

test('genai style (GroupQueryAttention assumes right padding): batches split by length, results unchanged', async () => {
  const fx = fixture({ style: 'genai', dtype: 'fp32' });
  const dec = await plainDecoder(fx);
  assert.equal(dec.io.leftPadding, false);
  const short = IDS.slice(0, 4);
  const [alone] = await forward(dec, [short], { hooks: [], logits: 'last' });
  const batch = await forward(dec, [IDS, short, short], { hooks: [], logits: 'last' });
  assert.ok(maxAbsDiff(alone.logits!, batch[1].logits!) <= 1e-5);
  assert.ok(maxAbsDiff(alone.logits!, batch[2].logits!) <= 1e-5);
});

test('weights in external data load by path', async () => {
  const fx = fixture({ style: 'torch', dtype: 'fp32', externalData: true });
  const dec = await plainDecoder(fx);
  const [out] = await forward(dec, [IDS], { hooks: [], logits: 'last' });
  const ref = referenceForward(fx.config, fx.weights, IDS).logits;
  assert.ok(maxAbsDiff(out.logits!, ref.slice(ref.length - fx.config.vocabSize)) <= 1e-4);
});

test('the word tokenizer loads in transformers.js with a working ChatML template', async () => {
  const fx = fixture({ style: 'torch', dtype: 'fp32' });
  const tok = await ChatTokenizer.load(fx.dir);
  assert.equal(tok.hasChatTemplate, true);
  const { ids, text } = tok.encode('How to make a cake?', { chat: true });
  assert.equal(text, '<|im_start|>user\nHow to make a cake?<|im_end|>\n<|im_start|>assistant\n');
  const v = (w: string) => fx.vocab.indexOf(w);
  assert.deepEqual(ids, [v('<|im_start|>'), v('user'), v('how'), v('to'), v('make'), v('a'), v('cake'), v('?'), v('<|im_end|>'), v('<|im_start|>'), v('assistant')]);
  assert.equal(tok.postInstructionStart(ids), 8);
  assert.equal(tok.decode(tok.encode('write a short poem about the sea', { chat: false }).ids, true), 'write a short poem about the sea');
  assert.deepEqual(tok.eosIds, [v('<|im_end|>')]);
  assert.deepEqual(tok.tokenStrings(ids.slice(0, 3)), ['<|im_start|>', 'user', 'how']);
});
