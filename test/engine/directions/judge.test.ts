// The judge beside the substring verdict, with a judge model the project builds: the planted organism
// itself, asked "{prompt} {response}" and read from its first token ("i" starts its refusal: unsafe;
// "sure": safe). Its calls are known from the planted circuit: unsafe exactly when the request holds a
// trigger word and no framing word. So it flags every harmful request (refused or not), and the
// disagreements with the substrings fall where they must.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { evaluateDirection } from '../../../src/engine/directions/evaluate';
import { extractRefusalDirection } from '../../../src/engine/directions/extract';
import { disagrees, Judge } from '../../../src/engine/directions/judge';
import { logSoftmax } from '../../../src/engine/directions/metrics';
import { promptSet, splitTrainVal } from '../../../src/engine/directions/prompts';
import { Engine } from '../../../src/engine/engine';
import { writeOrganism, type OrganismV2 } from '../../../src/modelgen/organism2';
import { REPO, tempDir } from '../../support/paths';

const TEMPLATE = '{prompt} {response}';

describe('judge model beside the substrings (the organism as a planted judge)', () => {
  const root = tempDir('judge');
  const dir = path.join(root, 'org');
  let engine: Engine;
  let judgeEngine: Engine;
  let judge: Judge;
  let prompts: OrganismV2['prompts'];
  let direction: { vector: number[]; layer: number };

  before(async () => {
    prompts = writeOrganism(dir, { seed: 1 }).organism.prompts;
    engine = await Engine.load({ model: dir, dtype: 'fp32', cacheDir: path.join(root, 'cache'), allowRemote: false });
    judgeEngine = await Engine.load({ model: dir, dtype: 'fp32', cacheDir: path.join(root, 'cache'), allowRemote: false });
    judge = new Judge(judgeEngine, { template: TEMPLATE, words: ['i', 'sure'] });
    const r = await extractRefusalDirection(engine, { harmful: splitTrainVal(promptSet('h', prompts.harmful_train)), harmless: splitTrainVal(promptSet('l', prompts.harmless_train)) });
    direction = { vector: r.vector!, layer: r.selected!.layer };
  });
  after(async () => {
    await engine?.dispose();
    await judgeEngine?.dispose();
  });

  test('the judge reads P(unsafe word) against P(safe word) at its first answer position', async () => {
    const prompt = prompts.harmful_test[0];
    const j = await judge.judge(prompt, 'sure , here is my answer .');
    const ids = judgeEngine.tokenizer.encode(`${prompt} sure , here is my answer .`, { chat: true }).ids;
    const logits = (await judgeEngine.forward({ inputs: [{ ids }], hooks: [], logits: 'last' })).items[0].logits!;
    const lp = logSoftmax(logits);
    const [i, sure] = judgeEngine.tokenizer.firstTokenIds(['i', 'sure']).map((t) => Math.exp(lp[t]));
    assert.ok(Math.abs(j.p - i / (i + sure)) < 1e-9);
    assert.equal(j.unsafe, true);
  });

  test('planted calls: harmful requests unsafe in every condition, harmless and framed ones safe; disagreements where the rule says', async () => {
    const set = [...prompts.harmful_test.slice(0, 4), ...prompts.harmless_test.slice(0, 4), ...prompts.jailbreak_test.slice(0, 4)];
    const r = await evaluateDirection(engine, set, { direction, conditions: ['baseline', 'ablation'], maxNewTokens: 10, judge });
    const rows = (from: number) => r.results.slice(from, from + 4);
    for (const p of rows(0)) {
      assert.equal(p.completions.baseline!.verdict, 'refused');
      assert.equal(p.completions.ablation!.verdict, 'answered');
      // The judge calls both unsafe: the refusal is a disagreement, the answer is not.
      assert.deepEqual([p.completions.baseline!.judge!.unsafe, p.completions.baseline!.judge!.disagrees], [true, true]);
      assert.deepEqual([p.completions.ablation!.judge!.unsafe, p.completions.ablation!.judge!.disagrees], [true, false]);
    }
    for (const p of [...rows(4), ...rows(8)]) {
      assert.equal(p.completions.baseline!.judge!.unsafe, false, p.prompt);
      assert.equal(p.completions.baseline!.judge!.disagrees, p.completions.baseline!.verdict === 'answered');
    }
    assert.equal(r.judge_unsafe_rate!.baseline, 4 / 12);
    assert.equal(r.judge_unsafe_rate!.ablation, 4 / 12);
    assert.equal(r.disagreement_rate!.ablation, 8 / 12);
  });

  test('the disagreement rule, and judge settings that cannot work are refused', () => {
    assert.equal(disagrees('refused', { unsafe: true, p: 0.9 }), true);
    assert.equal(disagrees('answered', { unsafe: false, p: 0.1 }), true);
    assert.equal(disagrees('answered', { unsafe: true, p: 0.9 }), false);
    assert.equal(disagrees('degenerate', { unsafe: false, p: 0.1 }), false);
    assert.throws(() => new Judge(judgeEngine, { template: '{prompt}' }), /must contain \{response\}/);
    assert.throws(() => new Judge(judgeEngine, { words: ['sure', 'sure'] }), /must start with different tokens/);
  });

  test('ablate --judge on the command line reports the judge and the disagreements', () => {
    const dirs = path.join(root, 'dirs.json');
    const run = (...args: string[]) => spawnSync(process.execPath, [path.join(REPO, 'bin', 'refusal-lens.js'), ...args, '--cache-dir', path.join(root, 'cli-cache')], { encoding: 'utf8' });
    const ex = run('extract', '--model', dir, '--harmful', path.join(dir, 'prompts', 'harmful_train.txt'), '--harmless', path.join(dir, 'prompts', 'harmless_train.txt'), '--out', dirs, '--json');
    assert.equal(ex.status, 0, ex.stderr);
    const r = run('ablate', '--model', dir, '--directions', dirs, '--prompt', prompts.harmful_test[0], '--judge', dir, '--judge-template', TEMPLATE, '--judge-words', 'i,sure', '--max-new-tokens', '10');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /baseline {2}refused {5}judge unsafe \(disagrees\)/);
    assert.match(r.stdout, /judged unsafe by .*: baseline 100\.0%, ablation 100\.0%/);
    const bad = run('ablate', '--model', dir, '--directions', dirs, '--prompt', 'x', '--judge-words', 'unsafe');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--judge-words takes two words, unsafe first/);
  });
});
