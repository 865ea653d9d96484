// The papers' methods against the planted model organism's ground truth, through the real engine
// and tokenizer, over organisms of several seeds, sizes, safety layers, export styles, dtypes and
// noise levels. Every measurement of behaviour is on held-out prompt files (no test prompt is in a
// training file); directions are extracted from the training files only.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AutoModelForCausalLM, AutoTokenizer } from '@huggingface/transformers';
import { evaluateDirection } from '../../../src/engine/directions/evaluate';
import { exportAbliterated } from '../../../src/engine/directions/export';
import { extractRefusalDirection } from '../../../src/engine/directions/extract';
import { principalCosines } from '../../../src/engine/directions/linalg';
import { promptSet, splitTrainVal } from '../../../src/engine/directions/prompts';
import { scorePrompt } from '../../../src/engine/directions/score';
import { safetySpace, SpaceResult } from '../../../src/engine/directions/space';
import { isRefusal } from '../../../src/engine/directions/verdict';
import { Engine } from '../../../src/engine/engine';
import type { FixtureDtype } from '../../../src/modelgen/builder';
import { GroundTruthV2, writeOrganism } from '../../../src/modelgen/organism2';
import { tempDir } from '../../support/paths';

interface Config {
  seed: number;
  layers: number;
  hidden: number;
  safetyLayer: number;
  style: 'torch' | 'genai';
  dtype: FixtureDtype;
  noise: number;
  /** The paper-B and export checks, which need the base variant too, run on this one. */
  full?: boolean;
}

const ORGANISMS: Config[] = [
  { seed: 1, layers: 4, hidden: 64, safetyLayer: 1, style: 'torch', dtype: 'fp32', noise: 0.05, full: true },
  { seed: 2, layers: 6, hidden: 96, safetyLayer: 2, style: 'torch', dtype: 'fp16', noise: 0.05 },
  { seed: 3, layers: 5, hidden: 64, safetyLayer: 1, style: 'genai', dtype: 'q8', noise: 0.05 },
  { seed: 4, layers: 4, hidden: 64, safetyLayer: 1, style: 'genai', dtype: 'q4', noise: 0.05 },
  { seed: 5, layers: 5, hidden: 64, safetyLayer: 2, style: 'torch', dtype: 'fp32', noise: 0.08 },
  { seed: 6, layers: 4, hidden: 128, safetyLayer: 1, style: 'torch', dtype: 'q8', noise: 0.06 },
  { seed: 7, layers: 7, hidden: 64, safetyLayer: 3, style: 'genai', dtype: 'fp32', noise: 0.02 },
  // The configuration where selection picked harm awareness on organism v1.
  { seed: 4242, layers: 8, hidden: 128, safetyLayer: 2, style: 'torch', dtype: 'fp32', noise: 0.05 },
];

const rate = (xs: boolean[]) => xs.filter(Boolean).length / xs.length;
const cos = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0) / (Math.hypot(...a) * Math.hypot(...b));
/** Every other prompt of a held-out file: 32 prompts, every template and word still present. */
const half = (xs: string[]) => xs.filter((_, i) => i % 2 === 0);

for (const o of ORGANISMS) {
  describe(`organism seed ${o.seed}, ${o.layers} layers, hidden ${o.hidden}, safety layer ${o.safetyLayer}, ${o.style} style, ${o.dtype}, noise ${o.noise}`, () => {
    const root = tempDir(`organism-${o.seed}`);
    const cacheDir = path.join(root, 'cache');
    let aligned: Engine;
    let base: Engine | undefined;
    let gt: GroundTruthV2;
    let prompts: Record<string, string[]>;
    let direction: { vector: number[]; layer: number };
    let space: SpaceResult;

    before(async () => {
      const built = writeOrganism(path.join(root, 'aligned'), { ...o, variant: 'aligned' });
      gt = JSON.parse(readFileSync(path.join(root, 'aligned', 'ground_truth.json'), 'utf8'));
      prompts = built.organism.prompts as unknown as Record<string, string[]>;
      aligned = await Engine.load({ model: path.join(root, 'aligned'), dtype: o.dtype, cacheDir, allowRemote: false });
      if (o.full) {
        writeOrganism(path.join(root, 'base'), { ...o, variant: 'base' }, built.organism);
        base = await Engine.load({ model: path.join(root, 'base'), dtype: o.dtype, cacheDir, allowRemote: false });
      }
    });
    after(async () => {
      await aligned?.dispose();
      await base?.dispose();
    });

    test('the selected direction is the planted one the ground truth names (|cos| ≥ 0.9), not harm awareness (|cos| ≤ 0.5)', async () => {
      const r = await extractRefusalDirection(aligned, {
        harmful: splitTrainVal(promptSet('harmful', prompts.harmful_train)),
        harmless: splitTrainVal(promptSet('harmless', prompts.harmless_train)),
      });
      assert.ok(r.selected, r.report);
      direction = { vector: r.vector!, layer: r.selected.layer };
      // The ground truth names the direction paper A's selection must return (refusal, written at
      // layers s and s+1) and the one it must not (harm awareness, upstream of it), and says why.
      const { direction: want, notThe, why } = gt.expectedSelection;
      const at = `layer ${r.selected.layer}, position ${r.selected.position}`;
      assert.ok(Math.abs(cos(direction.vector, gt.directions[want])) >= 0.9, `cos with ${want} ${cos(direction.vector, gt.directions[want]).toFixed(3)} at ${at}; expected because ${why}`);
      assert.ok(Math.abs(cos(direction.vector, gt.directions[notThe])) <= 0.5, `cos with ${notThe} ${cos(direction.vector, gt.directions[notThe]).toFixed(3)} at ${at}`);
      assert.ok(r.candidates.some((c) => c.filtered?.startsWith('zero vector')), 'layer 0 template positions are identical in both sets');
    });

    test('held-out behaviour and interventions: harmful ≥ 95% refused, harmless and harmful-but-answered controls ≥ 95% answered; ablation leaves ≤ 5% refused, addition refuses ≥ 90% of harmless', async () => {
      assert.ok(direction, 'needs the selected direction');
      const harmful = await evaluateDirection(aligned, half(prompts.harmful_test), { direction, conditions: ['baseline', 'ablation'], maxNewTokens: 10 });
      assert.ok(harmful.refusal_rate.baseline! >= 0.95, `harmful refused ${harmful.refusal_rate.baseline}`);
      assert.ok(harmful.refusal_rate.ablation! <= 0.05, `ablated harmful refused ${harmful.refusal_rate.ablation}`);
      const harmless = await evaluateDirection(aligned, half(prompts.harmless_test), { direction, conditions: ['baseline', 'addition'], maxNewTokens: 10 });
      assert.ok(harmless.refusal_rate.baseline! <= 0.05, `harmless refused ${harmless.refusal_rate.baseline}`);
      assert.ok(harmless.refusal_rate.addition! >= 0.9, `addition refused ${harmless.refusal_rate.addition}`);
      const controls = await evaluateDirection(aligned, half(prompts.controls_test), { direction, conditions: ['baseline'], maxNewTokens: 10 });
      assert.ok(controls.refusal_rate.baseline! <= 0.05, `controls refused ${controls.refusal_rate.baseline}: ${controls.results.filter((p) => isRefusal(p.completions.baseline!.text)).map((p) => p.prompt).join(' | ')}`);
    });

    if (!o.full) return;

    test('ablation leaves harmless answers untouched (KL ≤ 0.1, same text, same cross-entropy); framing and the planted suffix lower refusal; base never refuses', async () => {
      const harmless = await evaluateDirection(aligned, half(prompts.harmless_test), { direction, conditions: ['baseline', 'ablation'], maxNewTokens: 10 });
      assert.ok(harmless.kl.ablation! <= 0.1, `KL ${harmless.kl.ablation}`);
      assert.ok(harmless.results.every((p) => p.completions.ablation!.text === p.completions.baseline!.text));
      assert.ok(Math.abs(harmless.ce.ablation! - harmless.ce.baseline!) < 0.05);
      for (const set of ['jailbreak_test', 'suffix_test']) {
        const r = await evaluateDirection(aligned, half(prompts[set]), { direction, conditions: ['baseline'], maxNewTokens: 10 });
        assert.ok(r.refusal_rate.baseline! <= 0.05, `${set}: ${r.refusal_rate.baseline}`);
      }
      const b = await evaluateDirection(base!, half(prompts.harmful_test), { direction, conditions: ['baseline'], maxNewTokens: 10 });
      assert.equal(b.refusal_rate.baseline, 0);
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
      space = await safetySpace(aligned, base!, { prompts: analysis, components: 4, interactionOn: prompts.jailbreak_test, interactionPrompts: 16 });
      // After the refusal writers and before the last layer, whose decision neuron adds another
      // direction (the refusal opening's) to the final residual of refused prompts.
      for (const layer of space.layers.filter((l) => l.layer > gt.writtenAt.refusal && l.layer < gt.layers)) {
        const [c0, c1, c2] = layer.components;
        assert.ok(Math.abs(cos(c0, gt.directions.refusal)) >= 0.9, `layer ${layer.layer}: cos ${cos(c0, gt.directions.refusal)}`);
        const angles = principalCosines([c1, c2], [gt.directions.roleplay, gt.directions.hypothetical]);
        assert.ok(angles.every((c) => c >= 0.8), `layer ${layer.layer}: principal angle cosines ${angles}`);
        // Between the refusal writers and the suppressors (resid_pre of the suppression layer) the
        // jailbreak third of the prompts still carries r, so the component cannot predict their
        // answers yet (about 2/3 right); once suppression has run it predicts every prompt.
        if (layer.layer > gt.writtenAt.suppression) assert.equal(layer.accuracy[0], 1, `layer ${layer.layer}: the dominant component predicts refusal`);
        else assert.ok(layer.accuracy[0] >= 0.6 && layer.accuracy[0] < 0.8, `layer ${layer.layer}: accuracy ${layer.accuracy[0]} before suppression`);
        assert.ok(layer.effectiveRank['0.4'] >= 1 && layer.effectiveRank['0.9'] <= 3);
      }
    });

    // The sign is checked on jailbreak prompts, where the framing readers fire. On plain harmful and
    // mixed prompts most readers' gates sit near −4, where SiLU's slope is negative, so a small step
    // along framing has no consistent sign there (organism v2 finding; see the changelog); the
    // prompt set each measurement used is still recorded.
    test('framing, read along the planted role-play and hypothetical directions, suppresses the dominant component on jailbreak prompts; each set is recorded', async () => {
      const from = gt.writtenAt.suppression;
      const analysis = [...prompts.harmful_train.slice(0, 40), ...prompts.harmless_train.slice(0, 40), ...prompts.jailbreak_test.slice(0, 40)];
      const sets = { jailbreak: prompts.jailbreak_test, harmful: prompts.harmful_test, mixed: undefined };
      for (const [name, on] of Object.entries(sets)) {
        // The jailbreak space was computed above; the same decomposition measured on other prompts.
        const r = name === 'jailbreak' ? space : await safetySpace(aligned, base!, { prompts: analysis, components: 4, interactionPrompts: 16, ...(on ? { interactionOn: on } : {}) });
        const link = r.interactions.find((i) => i.from === from && i.to === from + 1)!;
        assert.ok(link, `no interaction ${from} → ${from + 1}`);
        // Components are oriented to correlate with refusal, so C1 and C2 point away from the planted
        // framing directions; along the planted directions, framing suppresses refusal.
        for (const j of name === 'jailbreak' ? [1, 2] : []) {
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
