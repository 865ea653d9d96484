// The instrumented graph on every fixture style and dtype: zero steering is the original model,
// every exposed residual is the reference's residual, and ablation / addition change the residuals
// exactly as the formulas say (checked against the reference forward with the same intervention).
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { forward, forwardChunked, forwardVariants, planBatches, planPrefixGroups } from '../../../src/engine/runtime/forward';
import { generate } from '../../../src/engine/runtime/generate';
import { hookNames, resolveHooks } from '../../../src/engine/runtime/hooks';
import { toFloat32 } from '../../../src/engine/runtime/tensors';
import { seededGaussian } from '../../../src/engine/runtime/random';
import { steeringTensors } from '../../../src/engine/runtime/steering';
import { Decoder } from '../../../src/engine/runtime/decoder';
import { Fixture, referenceForward } from '../../../src/modelgen';
import { assertSameDecode, fixture, instrumentedDecoder, maxAbs, maxAbsDiff, plainDecoder } from '../../support/fixtures';

const IDS = [1, 30, 40, 50, 60, 70, 2, 1, 5];

/** fp32-activation graphs (fp32, q4) are exact to 1e-4; fp16 and q8 carry their rounding (see fixtures.test.ts). */
function tol(dtype: string, scale: number): number {
  return dtype === 'fp16' ? 0.02 * scale : dtype === 'q8' ? 0.08 * scale : 1e-4;
}

function unit(h: number, seed: number): number[] {
  const g = seededGaussian(seed);
  const v = Array.from({ length: h }, g);
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

/** hook name -> index k of resid.k, in hookNames order */
const residIndex = (hook: string, layers: number) =>
  hook === 'resid_final' ? 2 * layers : 2 * Number(hook.split('.')[1]) + (hook.startsWith('resid_mid') ? 1 : 0);

test('prefix groups: every variant once, groups within the token budget, long shared prefixes grouped together', () => {
  const shared = [0, 9, 3, 8, 1, 9, 7, 2];
  const groups = planPrefixGroups(shared, 10, 12);
  assert.deepEqual(groups.flat().sort(), [...shared.keys()]);
  for (const g of groups) assert.ok(g.length === 1 || g.length * (10 - Math.min(...g.map((i) => shared[i]))) <= 12);
  assert.ok(groups.some((g) => g.includes(1) && g.includes(5)));
  // A row limit (each row holds a copy of the cached prefix) splits groups the token budget allows.
  assert.ok(planPrefixGroups(shared, 10, 100).some((g) => g.length > 2));
  for (const g of planPrefixGroups(shared, 10, 100, 2)) assert.ok(g.length <= 2);
});

test('batches: every sequence once, within the token budget, fewer padded tokens than one run, equal lengths without padding', () => {
  const lengths = [11, 45, 12, 30, 44, 13, 29, 12, 45, 31];
  const padded = (groups: number[][]) => groups.reduce((a, g) => a + g.length * Math.max(...g.map((i) => lengths[i])), 0);
  const groups = planBatches(lengths, 1000);
  assert.deepEqual(groups.flat().sort((a, b) => a - b), [...lengths.keys()]);
  assert.ok(groups.length > 1 && padded(groups) + 24 * groups.length < padded([[...lengths.keys()]]) + 24);
  for (const g of planBatches(lengths, 60)) assert.ok(g.length === 1 || g.length * Math.max(...g.map((i) => lengths[i])) <= 60);
  for (const g of planBatches(lengths, 1000, false)) assert.equal(new Set(g.map((i) => lengths[i])).size, 1);
  assert.deepEqual(planBatches([5, 5, 5], 1000), [[0, 1, 2]]);
});

for (const style of ['torch', 'genai'] as const) {
  for (const dtype of ['fp32', 'fp16', 'q8', 'q4'] as const) {
    describe(`instrumented ${style} ${dtype}`, () => {
      let fx: Fixture;
      let dec: Decoder;
      before(async () => {
        fx = fixture({ style, dtype, seed: 11, config: { qkvBias: style === 'genai', tiedEmbeddings: dtype === 'q4' } });
        dec = await instrumentedDecoder(fx);
      });

      test('zero steering reproduces the original logits', async () => {
        const [a] = await forward(await plainDecoder(fx), [IDS], { hooks: [], logits: 'all' });
        const [b] = await forward(dec, [IDS], { hooks: [], logits: 'all' });
        // Same graph plus exact no-op nodes: fp32 activations must agree to 1e-4 (the bar);
        // fp16 within 4 half ulps of the largest logit (re-fused kernels may round differently).
        const bound = dtype === 'fp16' ? 4 * 2 ** -10 * maxAbs(a.logits!) : 1e-4;
        assert.ok(maxAbsDiff(a.logits!, b.logits!) <= bound, `${maxAbsDiff(a.logits!, b.logits!)} > ${bound}`);
      });

      test("the graph gains num_logits_to_keep: 'last' logits of a padded batch equal the last rows of 'all'", async () => {
        // q8 keeps every position: its lm_head quantizes the whole activation tensor with one scale.
        assert.equal(dec.keepsLogits, dtype !== 'q8');
        const seqs = [IDS, IDS.slice(0, 5), IDS.slice(2)];
        const all = await forward(dec, seqs, { hooks: [], logits: 'all' });
        const last = await forward(dec, seqs, { hooks: [], logits: 'last' });
        const V = fx.config.vocabSize;
        seqs.forEach((s, i) => {
          const want = all[i].logits!.slice((s.length - 1) * V);
          assert.ok(maxAbsDiff(last[i].logits!, want) <= tol(dtype, maxAbs(want)), `sequence ${i}: ${maxAbsDiff(last[i].logits!, want)}`);
        });
      });

      test('variants run over the base prompt\'s cached prefix equal full forward passes of each variant', async () => {
        const variants = IDS.map((_, i) => [...IDS.slice(0, i), ...IDS.slice(i + 1)]);
        variants.push(IDS.slice(0, 4));
        const hooks = ['resid_pre.1', 'resid_final'];
        const shared = await forwardVariants(dec, IDS, variants, { hooks, maxTokens: 16 });
        const full = await forward(dec, [IDS, ...variants], { hooks, logits: 'none' });
        const last = (x: Float32Array) => x.slice(x.length - fx.config.hidden);
        [shared.base, ...shared.variants].forEach((got, i) => {
          for (const h of hooks) {
            const want = last(full[i].residuals[h]);
            assert.ok(maxAbsDiff(got[h], want) <= tol(dtype, maxAbs(want)), `${i} ${h}: ${maxAbsDiff(got[h], want)}`);
          }
        });
      });

      test('a sequence run in chunks over its own cache, and variants run in chunks, equal full forward passes', async () => {
        const hooks = ['resid_pre.1', 'resid_final'];
        const outputs = resolveHooks(hooks, fx.config.layers).map((h) => h.output);
        const [full] = await forward(dec, [IDS], { hooks, logits: 'none' });
        const H = fx.config.hidden;
        const got = Object.fromEntries(outputs.map((o) => [o, new Float32Array(IDS.length * H)]));
        const starts: number[] = [];
        await forwardChunked(dec, IDS, { fetch: outputs, chunk: 3 }, (start, outs) => {
          starts.push(start);
          for (const o of outputs) got[o].set(toFloat32(outs[o]), start * H);
        });
        assert.deepEqual(starts, [0, 3, 6, 9].filter((s) => s < IDS.length));
        resolveHooks(hooks, fx.config.layers).forEach(({ hook, output }) => {
          const want = full.residuals[hook];
          assert.ok(maxAbsDiff(got[output], want) <= tol(dtype, maxAbs(want)), `${hook}: ${maxAbsDiff(got[output], want)}`);
        });
        const variants = [IDS.slice(1), [...IDS.slice(0, 2), ...IDS.slice(5)]];
        const chunked = await forwardVariants(dec, IDS, variants, { hooks, chunk: 2, pastBytes: 1 });
        const each = await forward(dec, variants, { hooks, logits: 'none' });
        variants.forEach((v, i) => {
          for (const h of hooks) {
            const want = each[i].residuals[h].slice((v.length - 1) * H);
            assert.ok(maxAbsDiff(chunked.variants[i][h], want) <= tol(dtype, maxAbs(want)), `variant ${i} ${h}: ${maxAbsDiff(chunked.variants[i][h], want)}`);
          }
        });
      });

      test('every residual (resid_pre, resid_mid of each layer, resid_final) matches the reference', async () => {
        const hooks = hookNames(fx.config.layers);
        const [out] = await forward(dec, [IDS], { hooks, logits: 'none' });
        const ref = referenceForward(fx.config, fx.weights, IDS);
        for (const h of hooks) {
          const want = ref.residuals[residIndex(h, fx.config.layers)];
          const d = maxAbsDiff(out.residuals[h], want);
          assert.ok(d <= tol(dtype, maxAbs(want)), `${h}: ${d}`);
        }
      });

      test('ablating a 2-D subspace and adding a vector at one layer act as x − B Bᵀ x and x + c·a', async () => {
        const { hidden: H, layers: L } = fx.config;
        const r1 = unit(H, 1);
        const r2 = unit(H, 2);
        const a = unit(H, 3).map((x) => 2 * x);
        const addLayer = 1;
        const steering = steeringTensors({ ablate: [r1, r2], add: [{ vector: a, layers: [addLayer], coefficient: 1.5 }], positions: 'all' }, L, H);
        const hooks = hookNames(L);
        const [out] = await forward(dec, [IDS], { hooks, logits: 'last', steering });
        // The same intervention on the reference: every writer's output loses its component in
        // span(r1, r2) (orthonormalised), and writer 2·addLayer (the one producing resid_pre.addLayer) adds 1.5·a.
        const basis = [r1, r2.map((x, i) => x - r1.reduce((s, y, j) => s + y * r2[j], 0) * r1[i])];
        const n2 = Math.hypot(...basis[1]);
        basis[1] = basis[1].map((x) => x / n2);
        const ref = referenceForward(fx.config, fx.weights, IDS, (k, w) => {
          for (let t = 0; t < IDS.length; t++) {
            for (const b of basis) {
              let dot = 0;
              for (let h = 0; h < H; h++) dot += w[t * H + h] * b[h];
              for (let h = 0; h < H; h++) w[t * H + h] -= dot * b[h];
            }
            if (k === 2 * addLayer) for (let h = 0; h < H; h++) w[t * H + h] += 1.5 * a[h];
          }
        });
        for (const h of hooks) {
          const want = ref.residuals[residIndex(h, L)];
          assert.ok(maxAbsDiff(out.residuals[h], want) <= tol(dtype, maxAbs(want)), `${h}: ${maxAbsDiff(out.residuals[h], want)}`);
        }
        // And before the addition the residual has no component left in the subspace.
        const pre0 = out.residuals['resid_pre.0'];
        for (let t = 0; t < IDS.length; t++) {
          for (const b of basis) assert.ok(Math.abs(b.reduce((s, x, i) => s + x * pre0[t * H + i], 0)) <= tol(dtype, 1) + 1e-5);
        }
        const last = ref.logits.slice(ref.logits.length - fx.config.vocabSize);
        assert.ok(maxAbsDiff(out.logits!, last) <= tol(dtype, maxAbs(last)));
      });

      test('generation with the KV cache equals generation without it, with steering on', async () => {
        const steering = steeringTensors({ ablate: [unit(fx.config.hidden, 5)], positions: 'last' }, fx.config.layers, fx.config.hidden);
        const opts = { maxNewTokens: 6, eosIds: [], hooks: ['resid_pre.2'], steering, keepLogits: true };
        const cached = await generate(dec, IDS, { ...opts, useCache: true });
        const full = await generate(dec, IDS, { ...opts, useCache: false });
        const scale = maxAbs(full.stepLogits![0]);
        assertSameDecode(cached, full, dtype, tol(dtype, scale));
        if (dtype === 'q8') return; // per-step residuals are compared only where the decodes are exact
        assert.ok(maxAbsDiff(cached.residuals['resid_pre.2'], full.residuals['resid_pre.2']) <= tol(dtype, maxAbs(full.residuals['resid_pre.2'])));
      });
    });
  }
}
