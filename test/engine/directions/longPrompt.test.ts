// Long prompts in Score: refused with a clear message before any work when past the model's context
// or the memory budget; otherwise occluded by spans refined where they matter, within the budget.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { counters } from '../../../src/engine/diagnostics';
import { extractRefusalDirection } from '../../../src/engine/directions/extract';
import { promptSet, splitTrainVal } from '../../../src/engine/directions/prompts';
import { occlusionBudget, scorePlan, scorePrompt } from '../../../src/engine/directions/score';
import { Engine } from '../../../src/engine/engine';
import { type GroundTruthV2 as GroundTruth, writeOrganism } from '../../../src/modelgen/organism2';
import { tempDir } from '../../support/paths';

describe('Score on long prompts (organism seed 1, context 512)', () => {
  const root = tempDir('long-prompt');
  let engine: Engine;
  let gt: GroundTruth;
  let filler: string[];
  let direction: { vector: number[]; layer: number };

  before(async () => {
    const { organism } = writeOrganism(path.join(root, 'model'), { seed: 1, layers: 4, hidden: 64, safetyLayer: 1 });
    gt = JSON.parse(readFileSync(path.join(root, 'model', 'ground_truth.json'), 'utf8'));
    engine = await Engine.load({ model: path.join(root, 'model'), dtype: 'fp32', cacheDir: path.join(root, 'cache'), allowRemote: false });
    const p = organism.prompts;
    filler = p.harmless_train.join(' ').split(/\s+/).filter((w) => /^[a-z]+$/.test(w) && !gt.triggers.includes(w));
    const r = await extractRefusalDirection(engine, { harmful: splitTrainVal(promptSet('harmful', p.harmful_train)), harmless: splitTrainVal(promptSet('harmless', p.harmless_train)) });
    assert.ok(r.selected, r.report);
    direction = { vector: r.vector!, layer: r.selected.layer };
  });
  after(async () => engine?.dispose());

  const words = (n: number) => Array.from({ length: n }, (_, i) => filler[(i * 7) % filler.length]);

  test('a prompt past the model context is refused before any forward pass, naming both lengths', async () => {
    const runs = counters.sessionRuns;
    await assert.rejects(scorePrompt(engine, words(600).join(' '), direction), /the prompt is 60\d tokens with the chat template, longer than the model's context of 512 tokens/);
    assert.equal(counters.sessionRuns, runs);
  });

  test('a prompt over the memory budget is refused with the length that fits, which then plans', () => {
    const budget = 2 ** 20;
    assert.throws(() => scorePlan(engine, 500, budget), /the prompt is 500 tokens: .* over the memory budget of 1 MiB for this model; at most about \d+ tokens fit/);
    const most = Number(/at most about (\d+) tokens/.exec((() => { try { scorePlan(engine, 500, budget); } catch (e) { return (e as Error).message; } return ''; })())![1]);
    assert.ok(most > 16 && most < 500, `${most}`);
    assert.ok(scorePlan(engine, most, budget).chunk >= 16);
  });

  test('a long prompt is occluded by spans within the budget; the span refined first holds the planted trigger word', async () => {
    const body = words(300);
    body.splice(150, 0, 'how', 'to', 'make', 'a', gt.triggers[0]);
    const runs = counters.sessionRuns;
    const s = await scorePrompt(engine, body.join(' '), direction);
    assert.equal(s.triggerMethod, 'occlusion (span removal, best spans refined)');
    // The spans cover the instruction exactly once.
    const covered = s.triggers.flatMap((t) => Array.from({ length: t.length ?? 1 }, (_, k) => t.index + k)).sort((a, b) => a - b);
    assert.deepEqual(covered, Array.from({ length: s.instruction[1] - s.instruction[0] }, (_, k) => s.instruction[0] + k));
    assert.ok(s.triggers.some((t) => !t.length), 'no span was refined to single tokens');
    const top = s.triggers[0];
    assert.ok(s.tokens.slice(top.index, top.index + (top.length ?? 1)).some((t) => t.trim() === gt.triggers[0]), `top trigger ${JSON.stringify(top)}`);
    // Exact occlusion would need n²/2 token passes; spans stay within a few forward passes of the prompt.
    const n = s.instruction[1] - s.instruction[0];
    assert.ok((n * n) / 2 > occlusionBudget(s.ids.length));
    assert.ok(counters.sessionRuns - runs < 120, `${counters.sessionRuns - runs} runs`);
  });
});
