// Per-head attribution and attention patterns on every fixture style and dtype, against the
// TypeScript reference forward pass on the weights each graph really holds:
//   - each head's contribution z_h · W_O[h] r̂ equals the reference's (fp32 and q4 to 1e-4),
//   - the heads' sum plus bias · r̂ equals the attention writer's projection read from the graph's
//     own residuals (resid_mid − resid_pre),
//   - the pattern (the torch graph's Softmax; GroupQueryAttention's computed from its q and k) equals
//     the reference's, and the fused pattern equals the decomposed graph's Softmax on the same weights;
//   - with a post-attention RMS norm spliced in after o_proj (Gemma's layout), the heads still add up.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Engine } from '../../../src/engine/engine';
import { headsAnalysis, HeadsResult } from '../../../src/engine/heads/heads';
import { encodeModel, f32Tensor, node, readModel, topoSort } from '../../../src/engine/onnx/proto';
import { seededGaussian } from '../../../src/engine/runtime/random';
import { Fixture, referenceForward } from '../../../src/modelgen';
import { fixture } from '../../support/fixtures';
import { tempDir } from '../../support/paths';

const PROMPT = 'how to make a cake ?';

function unitVector(h: number, seed: number): number[] {
  const g = seededGaussian(seed);
  const v = Array.from({ length: h }, g);
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

/**
 * Tolerances, relative to the largest |contribution| of the layer (s). fp32 and q4 compute in float32
 * from the very weights the reference dequantizes: 1e-4 absolute (the bar). fp16 rounds every
 * activation to 11 bits through the network (2^-11 ≈ 5e-4 per step, a few layers deep: 2e-2·s). q8
 * quantizes each activation tensor to 8 bits dynamically (step range/255 ≈ 0.4% of the range; through
 * the layers 8e-2·s, the bound instrumentedFixtures uses for residuals).
 */
const tol = (dtype: string, s: number) => (dtype === 'fp16' ? 2e-2 * s : dtype === 'q8' ? 8e-2 * s : 1e-4);

for (const style of ['torch', 'genai'] as const) {
  for (const dtype of ['fp32', 'fp16', 'q8', 'q4'] as const) {
    describe(`heads on ${style} ${dtype}`, () => {
      let fx: Fixture;
      let engine: Engine;
      let result: HeadsResult;
      let ref: ReturnType<typeof referenceForward>;
      const r = unitVector(64, 5);
      before(async () => {
        fx = fixture({ style, dtype, seed: 21, config: { qkvBias: style === 'genai', tiedEmbeddings: dtype === 'q4' } });
        engine = await Engine.load({ model: fx.dir, dtype, cacheDir: path.join(tempDir('heads-cache'), 'c'), allowRemote: false });
        result = await headsAnalysis(engine, PROMPT, { vector: r, layer: 1 }, { position: -2 });
        ref = referenceForward(fx.config, fx.weights, result.ids);
      });
      after(() => engine?.dispose());

      test('every head of every layer, at the asked position', () => {
        assert.equal(result.position, result.ids.length - 2);
        assert.equal(result.heads.length, fx.config.layers * fx.config.heads);
        assert.deepEqual(result.heads.map((h) => `${h.layer}.${h.head}`), Array.from({ length: fx.config.layers * fx.config.heads }, (_, i) => `${Math.floor(i / fx.config.heads)}.${i % fx.config.heads}`));
      });

      test("each head's contribution equals the reference's z_h · W_O[h] r̂", () => {
        const { heads: H, headDim: d, hidden } = fx.config;
        const p = result.position;
        for (let l = 0; l < fx.config.layers; l++) {
          const z = ref.attention[l].z;
          const want = Array.from({ length: H }, (_, h) => {
            let s = 0;
            for (let i = h * d; i < (h + 1) * d; i++) {
              let u = 0;
              for (let o = 0; o < hidden; o++) u += fx.weights.layers[l].o[i * hidden + o] * r[o];
              s += z[p * H * d + i] * u;
            }
            return s;
          });
          const got = result.heads.filter((x) => x.layer === l).map((x) => x.contribution);
          const scale = Math.max(...want.map(Math.abs));
          got.forEach((g, h) => assert.ok(Math.abs(g - want[h]) <= tol(dtype, scale), `layer ${l} head ${h}: ${g} vs reference ${want[h]}`));
        }
      });

      test("the heads' sum plus bias equals the attention writer's projection in the graph", () => {
        const { heads: H, headDim: d, hidden } = fx.config;
        for (const layer of result.layers) {
          const sum = result.heads.filter((x) => x.layer === layer.layer).reduce((a, x) => a + x.contribution, 0) + layer.bias;
          // Same activations on both sides, except that q8's o_proj quantizes z to uint8 with one
          // scale over the whole tensor (DynamicQuantizeLinear: step = range(z ∪ 0)/255), so each
          // element is off by at most half a step and the projection by half a step times Σ|W_O r̂|.
          let bound = 1e-4;
          if (dtype === 'q8' || dtype === 'fp16') {
            const z = ref.attention[layer.layer].z;
            const u = Array.from({ length: H * d }, (_, i) => fx.weights.layers[layer.layer].o.subarray(i * hidden, (i + 1) * hidden).reduce((a, w, o) => a + w * r[o], 0));
            const l1 = u.reduce((a, x) => a + Math.abs(x), 0);
            // fp16: z is rounded to half precision (relative 2^-11) and so is the writer's output.
            bound = dtype === 'q8' ? (0.5 * (Math.max(0, ...z) - Math.min(0, ...z)) / 255) * l1 * 1.05 + 1e-4 : 2 ** -10 * Math.max(...z.map(Math.abs)) * l1 + 1e-4;
          }
          assert.ok(Math.abs(sum - layer.writer) <= bound, `layer ${layer.layer}: heads + bias ${sum} vs writer ${layer.writer} (bound ${bound})`);
        }
      });

      test('attention patterns equal the reference (rows sum to 1, nothing after the position)', () => {
        const { heads: H } = fx.config;
        const seq = result.ids.length;
        const p = result.position;
        for (const h of result.heads) {
          assert.equal(h.attention.length, seq);
          const want = ref.attention[h.layer].probs.subarray((h.head * seq + p) * seq, (h.head * seq + p + 1) * seq);
          const bound = dtype === 'fp32' || dtype === 'q4' ? 1e-4 : 2e-2;
          h.attention.forEach((a, j) => assert.ok(Math.abs(a - want[j]) <= bound, `layer ${h.layer} head ${h.head} key ${j}: ${a} vs ${want[j]}`));
          assert.ok(Math.abs(h.attention.reduce((x, y) => x + y, 0) - 1) < 1e-3);
          assert.ok(h.attention.slice(p + 1).every((a) => a === 0));
        }
        assert.equal(result.layers[0].pattern, style === 'torch' ? 'softmax' : 'com.microsoft.GroupQueryAttention (computed from q and k)');
        assert.ok(H > 1);
      });
    });
  }
}

test('the fused pattern (computed from q and k) equals the decomposed graph\'s Softmax on the same weights', async () => {
  const run = async (style: 'torch' | 'genai') => {
    const fx = fixture({ style, dtype: 'fp32', seed: 33 });
    const engine = await Engine.load({ model: fx.dir, dtype: 'fp32', cacheDir: path.join(tempDir('heads-cache'), 'c'), allowRemote: false });
    try {
      return await headsAnalysis(engine, 'write a guide to build a kite', { vector: unitVector(64, 2), layer: 0 });
    } finally {
      await engine.dispose();
    }
  };
  const [torch, genai] = [await run('torch'), await run('genai')];
  assert.deepEqual(torch.ids, genai.ids);
  let worst = 0;
  torch.heads.forEach((h, i) => h.attention.forEach((a, j) => (worst = Math.max(worst, Math.abs(a - genai.heads[i].attention[j])))));
  assert.ok(worst < 1e-5, `largest difference ${worst}`);
  torch.heads.forEach((h, i) => assert.ok(Math.abs(h.contribution - genai.heads[i].contribution) < 1e-4));
});

test('a post-attention RMS norm (Gemma) between o_proj and the residual: heads + bias still equal the writer', async () => {
  const fx = fixture({ style: 'genai', dtype: 'fp32', seed: 8 });
  const model = readModel(fx.onnxPath);
  const graph = model.graph!;
  const g = seededGaussian(3);
  for (let l = 0; l < fx.config.layers; l++) {
    const o = `/model/layers.${l}/attn/o_proj/MatMul/output_0`;
    const normed = `/model/layers.${l}/post_attention_norm/output_0`;
    const reader = graph.node!.find((n) => n.opType === 'SkipSimplifiedLayerNormalization' && n.input![1] === o)!;
    reader.input![1] = normed;
    graph.initializer!.push(f32Tensor(`post_norm.${l}`, [fx.config.hidden], Float32Array.from({ length: fx.config.hidden }, () => 1 + 0.3 * g())));
    graph.node!.push(node('SimplifiedLayerNormalization', [o, `post_norm.${l}`], [normed], `/model/layers.${l}/post_attention_norm`, { axis: -1, epsilon: 1e-6 }));
  }
  topoSort(graph);
  writeFileSync(fx.onnxPath, encodeModel(model));
  const engine = await Engine.load({ model: fx.dir, dtype: 'fp32', cacheDir: tempDir('heads-norm-cache'), allowRemote: false });
  try {
    const r = await headsAnalysis(engine, PROMPT, { vector: unitVector(64, 6), layer: 1 });
    for (const layer of r.layers) {
      const heads = r.heads.filter((h) => h.layer === layer.layer);
      const sum = heads.reduce((a, h) => a + h.contribution, 0) + layer.bias;
      assert.ok(Math.abs(sum - layer.writer) <= 1e-4, `layer ${layer.layer}: heads ${sum} vs writer ${layer.writer}`);
      assert.ok(Math.abs(layer.writer) > 1e-3);
    }
  } finally {
    await engine.dispose();
  }
});
