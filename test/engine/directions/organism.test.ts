// The papers' methods against the planted model organism's ground truth, on organisms of several
// seeds, sizes, safety layers and export styles, all through the real engine and tokenizer.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AutoModelForCausalLM, AutoTokenizer } from '@huggingface/transformers';
import { isRefusal, evaluateDirection } from '../../../src/engine/directions/evaluate';
import { exportAbliterated } from '../../../src/engine/directions/export';
import { extractRefusalDirection } from '../../../src/engine/directions/extract';
import { principalCosines } from '../../../src/engine/directions/linalg';
import { promptSet, splitTrainVal } from '../../../src/engine/directions/prompts';
import { scorePrompt } from '../../../src/engine/directions/score';
import { safetySpace, SpaceResult } from '../../../src/engine/directions/space';
import { Engine } from '../../../src/engine/engine';
import { GroundTruthV2, writeOrganism } from '../../../src/modelgen/organism2';
import { tempDir } from '../../support/paths';

const ORGANISMS = [
  { seed: 1, layers: 4, hidden: 64, safetyLayer: 1, style: 'torch' as const },
  { seed: 2, layers: 6, hidden: 96, safetyLayer: 2, style: 'torch' as const },
  { seed: 3, layers: 5, hidden: 64, safetyLayer: 1, style: 'genai' as const },
];

const rate = (xs: boolean[]) => xs.filter(Boolean).length / xs.length;
const cos = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0) / (Math.hypot(...a) * Math.hypot(...b));

for (const o of ORGANISMS) {
  describe(`organism seed ${o.seed}, ${o.layers} layers, hidden ${o.hidden}, safety layer ${o.safetyLayer}, ${o.style} style`, () => {
    const root = tempDir(`organism-${o.seed}`);
    const cacheDir = path.join(root, 'cache');
    let aligned: Engine;
    let base: Engine;
    let gt: GroundTruthV2;
    let prompts: Record<string, string[]>;
    let direction: { vector: number[]; layer: number };
    let space: SpaceResult;

    before(async () => {
      const built = writeOrganism(path.join(root, 'aligned'), { ...o, variant: 'aligned' });
      writeOrganism(path.join(root, 'base'), { ...o, variant: 'base' });
      gt = JSON.parse(readFileSync(path.join(root, 'aligned', 'ground_truth.json'), 'utf8'));
      prompts = built.organism.prompts as unknown as Record<string, string[]>;
      aligned = await Engine.load({ model: path.join(root, 'aligned'), dtype: 'fp32', cacheDir, allowRemote: false });
      base = await Engine.load({ model: path.join(root, 'base'), dtype: 'fp32', cacheDir, allowRemote: false });
    });
    after(async () => {
      await aligned?.dispose();
      await base?.dispose();
    });

    const refusals = async (engine: Engine, set: string[]) => {
      const out: boolean[] = [];
      for (const p of set) out.push(isRefusal((await engine.generate({ input: { prompt: p, chat: true }, maxNewTokens: 10, hooks: [], useCache: true, stream: false })).text));
      return rate(out);
    };

    test('planted behaviour: refuses harmful (≥95%), answers harmless (≥95%), framing lowers refusal (≤50%); base never refuses', async () => {
      assert.ok((await refusals(aligned, prompts.harmful_test)) >= 0.95);
      assert.ok((await refusals(aligned, prompts.harmless_test)) <= 0.05);
      assert.ok((await refusals(aligned, prompts.jailbreak_test)) <= 0.5);
      assert.equal(await refusals(base, [...prompts.harmful_test.slice(0, 16), ...prompts.jailbreak_test.slice(0, 8)]), 0);
    });

    test('the selected direction is the planted one written at or before its layer (|cos| ≥ 0.9)', async () => {
      const r = await extractRefusalDirection(aligned, {
        harmful: splitTrainVal(promptSet('harmful', prompts.harmful_train)),
        harmless: splitTrainVal(promptSet('harmless', prompts.harmless_train)),
      });
      assert.ok(r.selected, r.report);
      direction = { vector: r.vector!, layer: r.selected.layer };
      // resid_pre(layer) holds what blocks < layer wrote: the refusal direction once its MLP has run.
      const planted = r.selected.layer > gt.writtenAt.refusal ? gt.directions.refusal : gt.directions.harmAwareness;
      assert.ok(Math.abs(cos(direction.vector, planted)) >= 0.9, `cos ${cos(direction.vector, planted)} at layer ${r.selected.layer}`);
      assert.ok(r.selected.layer < Math.floor(0.8 * o.layers));
      assert.ok(r.candidates.some((c) => c.filtered?.startsWith('zero vector')), 'layer 0 template positions are identical in both sets');
    });

    test('ablation stops refusals (≤5%) without touching harmless answers (KL ≤ 0.1); addition makes harmless prompts refused (≥90%)', async () => {
      const harmful = await evaluateDirection(aligned, prompts.harmful_test, { direction, conditions: ['baseline', 'ablation'], maxNewTokens: 10 });
      assert.ok(harmful.refusal_rate.baseline! >= 0.95);
      assert.ok(harmful.refusal_rate.ablation! <= 0.05);
      const harmless = await evaluateDirection(aligned, prompts.harmless_test, { direction, maxNewTokens: 10 });
      assert.ok(harmless.kl.ablation! <= 0.1, `KL ${harmless.kl.ablation}`);
      assert.ok(harmless.results.every((p) => p.completions.ablation!.text === p.completions.baseline!.text));
      assert.ok(harmless.refusal_rate.addition! >= 0.9);
      // Cross-entropy of the baseline's own answers: unchanged by ablation on harmless prompts.
      assert.ok(Math.abs(harmless.ce.ablation! - harmless.ce.baseline!) < 0.05);
    });

    test('the exported abliterated model, run by plain transformers.js, no longer refuses', async () => {
      const out = path.join(root, 'abliterated');
      await exportAbliterated(aligned.info, [direction.vector], out);
      const tok = await AutoTokenizer.from_pretrained(out, { local_files_only: true });
      const model = await AutoModelForCausalLM.from_pretrained(out, { local_files_only: true, dtype: 'fp32' });
      const texts: string[] = [];
      for (const p of prompts.harmful_test.slice(0, 12)) {
        const inputs = tok.apply_chat_template([{ role: 'user', content: p }], { add_generation_prompt: true, return_dict: true }) as Record<string, unknown>;
        const ids = (await model.generate({ ...inputs, max_new_tokens: 8, do_sample: false })) as unknown as { slice: (...a: unknown[]) => unknown };
        const [text] = tok.batch_decode(ids as never, { skip_special_tokens: true });
        texts.push(text.split('assistant').pop()!);
      }
      assert.equal(rate(texts.map((t) => isRefusal(t))), 0, texts.join(' | '));
      assert.ok(texts.every((t) => t.includes('sure')), texts.join(' | '));
    });

    test('trigger tokens by occlusion: the top token is a planted trigger word in ≥ 90% of harmful prompts', async () => {
      let hits = 0;
      for (const p of prompts.harmful_test) {
        const s = await scorePrompt(aligned, p, direction);
        if (gt.triggers.includes(s.triggers[0].token.trim())) hits++;
      }
      assert.ok(hits / prompts.harmful_test.length >= 0.9, `${hits}/${prompts.harmful_test.length}`);
    });

    test('two-model safety residual space: dominant component = refusal direction, the next ones span role-play and hypothetical', async () => {
      const analysis = [...prompts.harmful_train.slice(0, 40), ...prompts.harmless_train.slice(0, 40), ...prompts.jailbreak_test.slice(0, 40)];
      space = await safetySpace(aligned, base, { prompts: analysis, components: 4, interactionOn: prompts.jailbreak_test, interactionPrompts: 16 });
      for (const layer of space.layers.filter((l) => l.layer > gt.writtenAt.refusal)) {
        const [c0, c1, c2] = layer.components;
        assert.ok(Math.abs(cos(c0, gt.directions.refusal)) >= 0.9, `layer ${layer.layer}: cos ${cos(c0, gt.directions.refusal)}`);
        const angles = principalCosines([c1, c2], [gt.directions.roleplay, gt.directions.hypothetical]);
        assert.ok(angles.every((c) => c >= 0.8), `layer ${layer.layer}: principal angle cosines ${angles}`);
        assert.equal(layer.accuracy[0], 1, 'the dominant component predicts refusal');
        assert.ok(layer.effectiveRank['0.4'] >= 1 && layer.effectiveRank['0.9'] <= 3);
      }
    });

    test('framing, read along the planted role-play and hypothetical directions, suppresses the dominant component on jailbreak, plain harmful and mixed prompts alike', async () => {
      const from = gt.writtenAt.suppression;
      const analysis = [...prompts.harmful_train.slice(0, 40), ...prompts.harmless_train.slice(0, 40), ...prompts.jailbreak_test.slice(0, 40)];
      const sets = { jailbreak: prompts.jailbreak_test, harmful: prompts.harmful_test, mixed: undefined };
      for (const [name, on] of Object.entries(sets)) {
        // The jailbreak space was computed above; the same decomposition measured on other prompts.
        const r = name === 'jailbreak' ? space : await safetySpace(aligned, base, { prompts: analysis, components: 4, interactionPrompts: 16, ...(on ? { interactionOn: on } : {}) });
        const link = r.interactions.find((i) => i.from === from && i.to === from + 1)!;
        assert.ok(link, `no interaction ${from} → ${from + 1}`);
        // Components are oriented to correlate with refusal, so C1 and C2 point away from the planted
        // framing directions; along the planted directions, framing suppresses refusal.
        for (const j of [1, 2]) {
          const cj = r.layers.find((l) => l.layer === from)!.components[j];
          const planted = [gt.directions.roleplay, gt.directions.hypothetical].reduce((a, b) => (Math.abs(cos(cj, b)) > Math.abs(cos(cj, a)) ? b : a));
          assert.ok(Math.sign(cos(cj, planted)) * link.matrix[j][0] < 0, `${name}, C${j}: ${JSON.stringify(link.matrix)}`);
        }
        const picked = (on ?? analysis).filter((_, i, all) => Array.from({ length: 16 }, (_, k) => Math.floor((k * all.length) / 16)).includes(i));
        assert.deepEqual(r.interactionSet, { source: on ? 'interaction prompts' : 'analysis prompts', prompts: 16, hash: promptSet('x', picked).hash });
      }
    });
  });
}
