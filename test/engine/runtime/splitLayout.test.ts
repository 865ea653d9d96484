// The split layout (embed_tokens*.onnx, then decoder_model_merged*.onnx taking inputs_embeds) on
// every fixture style and dtype: the plain pair computes the reference's logits, and the
// instrumented pair computes exactly what the single graph of the same weights computes, with
// steering too (the embedding's write is writer 0: ablation projects it out), in batches and in
// KV-cached decoding.
import assert from 'node:assert/strict';
import { copyFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { detectLayout } from '../../../src/engine/model/layout';
import { instrument } from '../../../src/engine/onnx/instrument';
import { checkDecoderIO, checkEmbedIO } from '../../../src/engine/onnx/io';
import { readModel } from '../../../src/engine/onnx/proto';
import { Decoder } from '../../../src/engine/runtime/decoder';
import { instrumentCached } from '../../../src/engine/onnx/cache';
import { openDecoder } from '../../../src/engine/runtime/open';
import { forward, forwardVariants } from '../../../src/engine/runtime/forward';
import { generate } from '../../../src/engine/runtime/generate';
import { hookNames } from '../../../src/engine/runtime/hooks';
import { seededGaussian } from '../../../src/engine/runtime/random';
import { steeringTensors } from '../../../src/engine/runtime/steering';
import { Fixture, referenceForward } from '../../../src/modelgen';
import { assertSameDecode, fixture, instrumentedDecoder, maxAbs, maxAbsDiff, plainDecoder, shapeOf } from '../../support/fixtures';
import { needsRealModels, REAL_MODELS, tempDir } from '../../support/paths';

const IDS = [1, 30, 40, 50, 60, 70, 2, 1, 5];
const SHORT = [1, 9, 33, 2];

/** Against the float64 reference, as in fixtures.test.ts: fp16 and q8 carry their rounding. */
const refTol = (dtype: string, logits: Float32Array) => (dtype === 'fp16' ? 0.02 : dtype === 'q8' ? 0.08 : 0) * maxAbs(logits) || 1e-4;

function unit(h: number, seed: number): number[] {
  const g = seededGaussian(seed);
  const v = Array.from({ length: h }, g);
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

const dot = (a: ArrayLike<number>, b: number[], row: number) => b.reduce((s, x, h) => s + x * a[row * b.length + h], 0);

for (const style of ['torch', 'genai'] as const) {
  for (const dtype of ['fp32', 'fp16', 'q8', 'q4'] as const) {
    describe(`split layout, ${style} ${dtype}`, () => {
      // Tied lm_heads on fp16 and q4 (q8's tied case is the finding tested below).
      const config = { qkvBias: style === 'genai', tiedEmbeddings: dtype === 'fp16' || dtype === 'q4' };
      let split: Fixture;
      let single: Fixture;
      let dec: Decoder;
      let ref: Decoder;
      before(async () => {
        split = fixture({ style, dtype, seed: 21, config, layout: 'split' });
        single = fixture({ style, dtype, seed: 21, config });
        dec = await instrumentedDecoder(split);
        ref = await instrumentedDecoder(single);
      });
      after(() => Promise.all([dec?.release(), ref?.release()]));

      test('the folder is the split layout: an embedding graph and a decoder taking inputs_embeds, text settings in text_config', async () => {
        assert.deepEqual(detectLayout(new Set(readdirSync(path.dirname(split.onnxPath))), dtype), { layout: 'split', decoder: path.basename(split.onnxPath), embed: path.basename(split.embedPath!) });
        assert.equal(checkDecoderIO(readModel(split.onnxPath).graph!).tokens, 'inputs_embeds');
        assert.equal(checkEmbedIO(readModel(split.embedPath!).graph!).width, split.config.hidden);
        const cfg = (await import(path.join(split.dir, 'config.json'), { with: { type: 'json' } })).default;
        assert.equal(cfg.text_config.num_hidden_layers, split.config.layers);
        assert.equal(cfg.num_hidden_layers, undefined);
      });

      test('the plain embedding graph + decoder give the reference logits', async () => {
        const plain = await plainDecoder(split);
        try {
          const [out] = await forward(plain, [IDS], { hooks: [], logits: 'all' });
          const want = referenceForward(split.config, split.weights, IDS).logits;
          assert.ok(maxAbsDiff(out.logits!, want) <= refTol(dtype, want), `${maxAbsDiff(out.logits!, want)}`);
        } finally {
          await plain.release();
        }
      });

      test('instrumented: every residual and logit equals the single graph of the same weights, unsteered and steered, in a padded batch', async () => {
        const hooks = hookNames(split.config.layers);
        const r = unit(split.config.hidden, 5);
        const steered = steeringTensors({ ablate: [r], add: [{ vector: unit(split.config.hidden, 6), coefficient: 2, layers: [1] }], positions: 'all' }, split.config.layers, split.config.hidden);
        // fp16: onnxruntime may compute the exposed float copy of resid.0 before or after rounding the
        // steered embedding to half precision (measured: 1 of 9 residuals, half an ulp); the stream
        // the layers read, and so every later residual, is identical.
        const rel = dtype === 'fp16' ? 2 ** -10 : 1e-5;
        for (const steering of [undefined, steered]) {
          const a = await forward(dec, [IDS, SHORT], { hooks, logits: 'all', steering });
          const b = await forward(ref, [IDS, SHORT], { hooks, logits: 'all', steering });
          for (let i = 0; i < 2; i++) {
            // Same graph but for where the embedding is looked up: the same float operations.
            assert.ok(maxAbsDiff(a[i].logits!, b[i].logits!) <= 1e-5 * Math.max(1, maxAbs(b[i].logits!)), `logits ${maxAbsDiff(a[i].logits!, b[i].logits!)}`);
            for (const h of hooks) assert.ok(maxAbsDiff(a[i].residuals[h], b[i].residuals[h]) <= rel * Math.max(1, maxAbs(b[i].residuals[h])), `${h}: ${maxAbsDiff(a[i].residuals[h], b[i].residuals[h])}`);
          }
        }
        // The embedding's write is ablated too: resid_pre.0 has no component along r, and had one before.
        const [plain] = await forward(dec, [IDS], { hooks: ['resid_pre.0'], logits: 'none' });
        const [ablated] = await forward(dec, [IDS], { hooks: ['resid_pre.0'], logits: 'none', steering: steeringTensors({ ablate: [r], positions: 'all' }, split.config.layers, split.config.hidden) });
        const eps = dtype === 'fp16' ? 2e-3 : 1e-5;
        for (let p = 0; p < IDS.length; p++) {
          assert.ok(Math.abs(dot(ablated.residuals['resid_pre.0'], r, p)) <= eps * Math.max(1, maxAbs(plain.residuals['resid_pre.0'])), `position ${p}`);
        }
        assert.ok(Math.max(...IDS.map((_, p) => Math.abs(dot(plain.residuals['resid_pre.0'], r, p)))) > 0.01);
      });

      test('score\'s occlusion variants (a cached prefix, then each variant) equal the single graph\'s', async () => {
        const variants = IDS.map((_, i) => IDS.filter((__, j) => j !== i));
        const hooks = ['resid_pre.2', 'resid_final'];
        const a = await forwardVariants(dec, IDS, variants, { hooks });
        const b = await forwardVariants(ref, IDS, variants, { hooks });
        for (const h of hooks) {
          assert.ok(maxAbsDiff(a.base[h], b.base[h]) <= 1e-5 * Math.max(1, maxAbs(b.base[h])), h);
          a.variants.forEach((v, i) => assert.ok(maxAbsDiff(v[h], b.variants[i][h]) <= 1e-5 * Math.max(1, maxAbs(b.variants[i][h])), `${h}, variant ${i}`));
        }
      });

      test('KV-cached decoding equals full forward passes and the single graph\'s decode', async () => {
        const opts = { maxNewTokens: 5, eosIds: [], hooks: ['resid_pre.1'], keepLogits: true, steering: steeringTensors({ ablate: [unit(split.config.hidden, 7)], positions: 'last' }, split.config.layers, split.config.hidden) };
        const cached = await generate(dec, IDS, { ...opts, useCache: true });
        const full = await generate(dec, IDS, { ...opts, useCache: false });
        const tol = dtype === 'fp16' || dtype === 'q8' ? refTol(dtype, full.stepLogits![0]) : 1e-4;
        assertSameDecode(cached, full, dtype, tol);
        const single = await generate(ref, IDS, { ...opts, useCache: true });
        assert.deepEqual(cached.ids, single.ids);
        assert.ok(maxAbsDiff(cached.residuals['resid_pre.1'], single.residuals['resid_pre.1']) <= 1e-5 * Math.max(1, maxAbs(single.residuals['resid_pre.1'])));
      });
    });
  }
}

test('a decoder taking inputs_embeds without its embedding graph, or with one of another dtype or width, is refused by name', async () => {
  const fx = fixture({ style: 'torch', dtype: 'fp32', layout: 'split' });
  const inst = await instrumentCached(fx.onnxPath, { ...shapeOf(fx), cacheDir: tempDir('cache') });
  const refused = (embedPath: string | undefined, re: RegExp) => assert.rejects(openDecoder(inst, shapeOf(fx), { padId: 0, embedPath }), re);
  await refused(undefined, /takes 'inputs_embeds' but no embedding graph goes with it: the split layout needs onnx\/embed_tokens\{suffix\}\.onnx/);
  const half = fixture({ style: 'torch', dtype: 'fp16', layout: 'split' });
  await refused(half.embedPath, /embed_tokens_fp16\.onnx outputs float16 embeddings, but the decoder's inputs_embeds takes float32/);
  const wide = fixture({ style: 'torch', dtype: 'fp32', layout: 'split', config: { hidden: 96 } });
  const other = path.join(tempDir('embed'), 'embed_tokens.onnx');
  copyFileSync(wide.embedPath!, other);
  await refused(other, /config\.json says hidden_size 64, but embed_tokens\.onnx's output 'inputs_embeds' has width 96/);
  // A single-graph decoder has no use for an embedding graph.
  const single = fixture({ style: 'torch', dtype: 'fp32' });
  const plain = await instrumentCached(single.onnxPath, { ...shapeOf(single), cacheDir: tempDir('cache') });
  await assert.rejects(openDecoder(plain, shapeOf(single), { padId: 0, embedPath: fx.embedPath }), /takes 'input_ids' itself, so the embedding graph .* has no place/);
});

test('finding: q8 with a tied lm_head, onnxruntime quantizes the split decoder\'s lm_head differently; residuals stay identical', async () => {
  // The single graph's quantized table is also read by the embedding Gather; in the split decoder
  // only the tied lm_head reads it, and onnxruntime's extended optimizations (not basic ones) then
  // rewrite that MatMul: logits move by about 0.3% of their scale, within q8's own error.
  const config = { tiedEmbeddings: true };
  const split = fixture({ style: 'torch', dtype: 'q8', seed: 21, config, layout: 'split' });
  const single = fixture({ style: 'torch', dtype: 'q8', seed: 21, config });
  const [dec, ref] = [await instrumentedDecoder(split), await instrumentedDecoder(single)];
  const hooks = hookNames(split.config.layers);
  const [a] = await forward(dec, [IDS], { hooks, logits: 'all' });
  const [b] = await forward(ref, [IDS], { hooks, logits: 'all' });
  for (const h of hooks) assert.equal(maxAbsDiff(a.residuals[h], b.residuals[h]), 0, h);
  const diff = maxAbsDiff(a.logits!, b.logits!);
  assert.ok(diff > 0 && diff <= 0.01 * maxAbs(b.logits!), `${diff}`);
  const want = referenceForward(split.config, split.weights, IDS).logits;
  for (const got of [a.logits!, b.logits!]) assert.ok(maxAbsDiff(got, want) <= refTol('q8', want));
  await Promise.all([dec.release(), ref.release()]);
});

describe('real split exports (onnx-community gemma-3-4b, graphs without weights)', needsRealModels(), () => {
  const dir = path.join(REAL_MODELS, 'gemma3-4b-graph-only');
  const files = new Set(readdirSync(dir));
  for (const dtype of ['fp32', 'fp16', 'q4', 'q4f16', 'q8'] as const) {
    test(`${dtype}: the decoder instruments in the split path, writer 0 is its inputs_embeds (68 updates)`, () => {
      // Only the fp32 and q4 embedding graphs are kept here; the layout needs the pair of one dtype.
      const found = detectLayout(files, dtype);
      assert.deepEqual(found?.embed, dtype === 'fp32' ? 'embed_tokens.onnx' : dtype === 'q4' ? 'embed_tokens_q4.onnx' : undefined);
      const suffix = { fp32: '', fp16: '_fp16', q4: '_q4', q4f16: '_q4f16', q8: '_quantized' }[dtype];
      const meta = instrument(readModel(path.join(dir, `decoder_model_merged${suffix}.onnx`)), 34, 2560);
      assert.equal(meta.io.tokens, 'inputs_embeds');
      assert.equal(meta.updates, 68);
      // The first norm and the first residual Add read inputs_embeds itself (no scaling node in
      // this decoder): writer 0 is the input, so ablation covers exactly what the layers read.
      assert.equal(meta.writers[0], 'inputs_embeds');
    });
  }

  test('the embedding graphs (Gather, and q4 GatherBlockQuantized) feed 2560-wide float embeddings', () => {
    for (const f of ['embed_tokens.onnx', 'embed_tokens_q4.onnx']) assert.deepEqual(checkEmbedIO(readModel(path.join(dir, f)).graph!), { output: 'inputs_embeds', elemType: 1, width: 2560 });
  });
});
