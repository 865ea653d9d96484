// refusal-lens space and intervene as a user runs them, on the planted organism (two-model mode):
// removing the framing components (C1, C2 after the suppression layer) at the last token brings
// refusal back on framed jailbreaks, as planted, without touching plain harmful or harmless prompts;
// removing the dominant component, or each harmful prompt's top trigger token, stops refusal.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { writeOrganism, type GroundTruthV2, type OrganismV2 } from '../../src/modelgen/organism2';
import { REPO, tempDir } from '../support/paths';

const root = tempDir('cli-intervene');
const cli = (...args: string[]) => {
  const r = spawnSync(process.execPath, [path.join(REPO, 'bin', 'refusal-lens.js'), ...args], { encoding: 'utf8', env: { ...process.env, REFUSAL_LENS_CACHE: path.join(root, 'cache') } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
};
const json = (...args: string[]) => {
  const r = cli(...args, '--json');
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
};

describe('refusal-lens intervene on the organism', () => {
  const model = path.join(root, 'aligned');
  const space = path.join(root, 'space.json');
  let prompts: OrganismV2['prompts'];
  let gt: GroundTruthV2;
  let spaceOut: { layers: { layer: number; accuracy: number[]; best: { component: number; accuracy: number }; probe: number }[] };
  const file = (name: keyof OrganismV2['prompts'], n = 24) => {
    const f = path.join(root, `${name}.txt`);
    writeFileSync(f, prompts[name].slice(0, n).join('\n'));
    return f;
  };

  before(() => {
    prompts = writeOrganism(model, { seed: 1, variant: 'aligned' }).organism.prompts;
    writeOrganism(path.join(root, 'base'), { seed: 1, variant: 'base' });
    gt = JSON.parse(readFileSync(path.join(model, 'ground_truth.json'), 'utf8'));
    const analysis = path.join(root, 'analysis.txt');
    writeFileSync(analysis, [...prompts.harmful_train.slice(0, 40), ...prompts.harmless_train.slice(0, 40), ...prompts.jailbreak_test.slice(0, 40)].join('\n'));
    spaceOut = json('space', '--model', model, '--base', path.join(root, 'base'), '--prompts', analysis, '--components', '4', '--out', space);
  });

  test('space reports the best component and a held-out logistic-probe baseline per layer', () => {
    for (const l of spaceOut.layers.filter((x) => x.layer > gt.writtenAt.refusal)) {
      assert.equal(l.best.accuracy, Math.max(...l.accuracy));
      assert.equal(l.best.component, l.accuracy.indexOf(l.best.accuracy));
      assert.ok(l.probe >= 0.9, `layer ${l.layer}: probe ${l.probe}`);
    }
    // Before any layer has run, the last token (a template token) is the same for every prompt: chance or worse.
    assert.ok(spaceOut.layers[0].probe < 0.8, `layer 0: probe ${spaceOut.layers[0].probe}`);
  });

  test('removing the framing components brings refusal back on jailbreaks, as planted, and only there', () => {
    const layer = String(gt.writtenAt.suppression + 1);
    const jb = json('intervene', '--model', model, '--space', space, '--component', '1,2', '--layer', layer, '--prompts', file('jailbreak_test'));
    assert.equal(jb.mode, 'remove');
    assert.ok(jb.refusal_rate.baseline <= 0.5, JSON.stringify(jb.refusal_rate));
    assert.ok(jb.refusal_rate.intervened >= 0.9, JSON.stringify(jb.refusal_rate));
    assert.equal(jb.degenerate_rate.intervened, 0);
    assert.ok(Number.isFinite(jb.perplexity.intervened) && jb.perplexity.intervened > jb.perplexity.baseline, JSON.stringify(jb.perplexity));
    const harmless = json('intervene', '--model', model, '--space', space, '--component', `L${layer}C1`, '--prompts', file('harmless_test'));
    assert.deepEqual([harmless.refusal_rate.baseline, harmless.refusal_rate.intervened], [0, 0]);
    const harmful = json('intervene', '--model', model, '--space', space, '--component', '1,2', '--layer', layer, '--prompts', file('harmful_test'));
    assert.ok(harmful.refusal_rate.intervened >= 0.95);
  });

  test('removing the dominant component, or each prompt’s top trigger token, stops refusal on harmful prompts', () => {
    const r = json('intervene', '--model', model, '--space', space, '--component', '0', '--layer', String(gt.writtenAt.suppression + 1), '--prompts', file('harmful_test'), '--remove-triggers', '1');
    assert.ok(r.refusal_rate.baseline >= 0.95);
    assert.ok(r.refusal_rate.intervened <= 0.05, JSON.stringify(r.refusal_rate));
    assert.ok(r.refusal_rate.trigger_removed <= 0.1, JSON.stringify(r.refusal_rate));
    const removed = r.results.map((x: { trigger_removed: { removed: string[] } }) => x.trigger_removed.removed[0].trim());
    assert.ok(removed.filter((w: string) => gt.triggers.includes(w)).length >= 0.9 * removed.length, removed.join(' '));
  });

  test('bad component references are refused by name', () => {
    const r = cli('intervene', '--model', model, '--space', space, '--component', '9', '--layer', '2', '--prompts', file('harmful_test'));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /layer 2 of the space file has components 0\.\.3, not 9/);
    const n = cli('intervene', '--model', model, '--space', path.join(model, 'config.json'), '--component', '1', '--prompts', file('harmful_test'));
    assert.match(n.stderr, /is not a space file written by 'refusal-lens space'/);
  });
});
