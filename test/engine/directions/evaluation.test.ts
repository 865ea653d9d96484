// Evaluation as in the papers, on the planted organism through the real engine: the degenerate
// verdict where strong addition breaks the model, token-pooled cross-entropy without EOS, ablation at
// every position (prompt and generated), KL against the ablated run (not the baseline itself), and
// rates per prompt category.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { conditionSteering, crossEntropy, evaluateDirection, isRefusal } from '../../../src/engine/directions/evaluate';
import { extractRefusalDirection } from '../../../src/engine/directions/extract';
import { klDivergence } from '../../../src/engine/directions/metrics';
import { promptSet, splitTrainVal } from '../../../src/engine/directions/prompts';
import { Engine } from '../../../src/engine/engine';
import { forward } from '../../../src/engine/runtime/forward';
import { generate } from '../../../src/engine/runtime/generate';
import { steeringTensors } from '../../../src/engine/runtime/steering';
import { writeOrganism, type OrganismV2 } from '../../../src/modelgen/organism2';
import { tempDir } from '../../support/paths';

describe('evaluation on the organism (seed 1)', () => {
  const root = tempDir('evaluation');
  let engine: Engine;
  let prompts: OrganismV2['prompts'];
  let direction: { vector: number[]; layer: number };

  before(async () => {
    prompts = writeOrganism(path.join(root, 'org'), { seed: 1 }).organism.prompts;
    engine = await Engine.load({ model: path.join(root, 'org'), dtype: 'fp32', cacheDir: path.join(root, 'cache'), allowRemote: false });
    const r = await extractRefusalDirection(engine, { harmful: splitTrainVal(promptSet('h', prompts.harmful_train)), harmless: splitTrainVal(promptSet('l', prompts.harmless_train)) });
    direction = { vector: r.vector!, layer: r.selected!.layer };
  });
  after(() => engine?.dispose());

  // On the organism, addition at coefficient 1 refuses; from about 2 the added vector dominates the
  // residual's norm, the decision neuron's reading of the "assistant" position fades and the answer
  // is "sure , ..." again; at 16 the model breaks into repeated full stops.
  test('strong addition breaks the model into ". . . …": degenerate, not answered, though no refusal substring occurs', async () => {
    const r = await evaluateDirection(engine, prompts.harmless_test.slice(0, 8), { direction, coefficient: 16, conditions: ['baseline', 'addition'], maxNewTokens: 24 });
    const texts = r.results.map((p) => p.completions.addition!.text);
    assert.ok(texts.every((t) => /^\.{24}$/.test(t.trim())), texts.join(' | '));
    assert.ok(texts.every((t) => !isRefusal(t)), 'substring matching alone would call these answers');
    assert.equal(r.degenerate_rate.addition, 1);
    assert.equal(r.refusal_rate.addition, 0);
    assert.equal(r.degenerate_rate.baseline, 0);
    assert.ok(r.results.every((p) => p.completions.baseline!.verdict === 'answered'));
  });

  test('the paper\'s generation length: 512 new tokens run to the end where the model never stops', async () => {
    const r = await evaluateDirection(engine, [prompts.harmless_test[0]], { direction, coefficient: 16, conditions: ['addition'], maxNewTokens: 512 });
    assert.equal(r.results[0].completions.addition!.ids.length, 512);
    assert.equal(r.results[0].completions.addition!.verdict, 'degenerate');
  });

  test('cross-entropy: token-pooled over the baseline completions, EOS excluded', async () => {
    const set = [...prompts.harmless_test.slice(0, 3), prompts.harmful_test[0]];
    const r = await evaluateDirection(engine, set, { direction, coefficient: 1, maxNewTokens: 16 });
    let nll = 0;
    let tokens = 0;
    for (const p of r.results) {
      const ids = p.completions.baseline!.ids;
      assert.ok(engine.tokenizer.eosIds.includes(ids.at(-1)!), 'the organism ends its answers with EOS');
      assert.equal(p.ceTokens, ids.length - 1);
      const prompt = engine.tokenizer.encode(p.prompt, { chat: true }).ids;
      const steer = steeringTensors(conditionSteering('addition', direction, 1), engine.info.layers, engine.info.hiddenSize);
      const ce = await crossEntropy(engine, prompt, ids.slice(0, -1), steer);
      assert.ok(Math.abs(ce - p.ce.addition!) < 1e-9);
      nll += ce * (ids.length - 1);
      tokens += ids.length - 1;
    }
    // Pooled (Σ nll / Σ tokens), which differs from the mean of per-prompt means when lengths differ.
    assert.ok(Math.abs(r.ce.addition! - nll / tokens) < 1e-9, `${r.ce.addition} vs ${nll / tokens}`);
    const lengths = new Set(r.results.map((p) => p.ceTokens));
    assert.ok(lengths.size > 1, 'harmful (refusal) and harmless (compliance) answers have different lengths');
    const meanOfMeans = r.results.reduce((a, p) => a + p.ce.addition!, 0) / r.results.length;
    assert.ok(Math.abs(r.ce.addition! - meanOfMeans) > 1e-3, 'pooling must matter on this set');
  });

  test('ablation removes the direction from every residual at every position, prompt and generated', async () => {
    const unit = direction.vector.map((x) => x / Math.hypot(...direction.vector));
    const steer = steeringTensors(conditionSteering('ablation', direction, 1), engine.info.layers, engine.info.hiddenSize);
    const ids = engine.tokenizer.encode(prompts.harmful_test[0], { chat: true }).ids;
    const H = engine.info.hiddenSize;
    const maxAlong = (rows: Float32Array) => {
      let m = 0;
      for (let i = 0; i < rows.length / H; i++) m = Math.max(m, Math.abs(rows.subarray(i * H, (i + 1) * H).reduce((a, x, h) => a + x * unit[h], 0)));
      return m;
    };
    const hooks = ['resid_pre.*', 'resid_mid.*', 'resid_final'];
    const [plain] = await forward(engine.decoder, [ids], { hooks, logits: 'none' });
    const [ablated] = await forward(engine.decoder, [ids], { hooks, logits: 'none', steering: steer });
    // Without ablation the direction is there (at the harmful prompt's positions after its layer).
    assert.ok(Math.max(...Object.values(plain.residuals).map(maxAlong)) > 1);
    for (const [hook, rows] of Object.entries(ablated.residuals)) assert.ok(maxAlong(rows) < 1e-4, `${hook}: ${maxAlong(rows)}`);
    const gen = await generate(engine.decoder, ids, { maxNewTokens: 6, eosIds: [], steering: steer, hooks, useCache: true });
    for (const [hook, rows] of Object.entries(gen.residuals)) assert.ok(maxAlong(rows) < 1e-4, `generated, ${hook}: ${maxAlong(rows)}`);
  });

  test('KL compares the baseline with the ablated run: large where ablation flips the answer, equal to an independent computation', async () => {
    const prompt = prompts.harmful_test[0];
    const r = await evaluateDirection(engine, [prompt], { direction, conditions: ['baseline', 'ablation'], maxNewTokens: 4 });
    const ids = engine.tokenizer.encode(prompt, { chat: true }).ids;
    const steer = steeringTensors(conditionSteering('ablation', direction, 1), engine.info.layers, engine.info.hiddenSize);
    const [base] = await forward(engine.decoder, [ids], { hooks: [], logits: 'last' });
    const [abl] = await forward(engine.decoder, [ids], { hooks: [], logits: 'last', steering: steer });
    const want = klDivergence(base.logits!, abl.logits!);
    assert.ok(want > 1, `the first token changes from "i" to "sure": KL ${want}`);
    assert.ok(Math.abs(r.results[0].kl.ablation! - want) < 1e-4, `${r.results[0].kl.ablation} vs ${want}`);
    assert.equal(r.results[0].kl.baseline, 0);
  });

  test('rates per category: harmful refused, framed jailbreaks mostly answered, harmless answered', async () => {
    const set = [...prompts.harmful_test.slice(0, 6), ...prompts.jailbreak_test.slice(0, 6), ...prompts.harmless_test.slice(0, 6)];
    const categories = set.map((_, i) => ['harmful', 'jailbreak', 'harmless'][Math.floor(i / 6)]);
    const r = await evaluateDirection(engine, set, { direction, conditions: ['baseline', 'ablation'], maxNewTokens: 10, categories });
    assert.deepEqual(Object.keys(r.by_category!), ['harmful', 'jailbreak', 'harmless']);
    assert.equal(r.by_category!.harmful.prompts, 6);
    assert.equal(r.by_category!.harmful.refusal_rate.baseline, 1);
    assert.equal(r.by_category!.harmful.refusal_rate.ablation, 0);
    assert.equal(r.by_category!.harmless.refusal_rate.baseline, 0);
    assert.ok(r.by_category!.jailbreak.refusal_rate.baseline! <= 0.5);
    // The overall rate is the prompt-weighted mean of the categories'.
    const overall = (r.by_category!.harmful.refusal_rate.baseline! + r.by_category!.jailbreak.refusal_rate.baseline! + r.by_category!.harmless.refusal_rate.baseline!) / 3;
    assert.ok(Math.abs(r.refusal_rate.baseline! - overall) < 1e-12);
    await assert.rejects(evaluateDirection(engine, set, { direction, categories: ['a'] }), /1 categories for 18 prompts/);
  });
});
