// refusal-lens capability as a user runs it, on the planted organism: answers whose truth is known
// (the organism's answer chains) stay right under ablation and in the exported model, and the answer
// the safety circuit decides (the first word after a harmful request) flips, in both the same way.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { Engine } from '../../src/engine/engine';
import { writeOrganism, type OrganismV2 } from '../../src/modelgen/organism2';
import { REPO, tempDir } from '../support/paths';

const root = tempDir('cli-capability');
const cache = path.join(root, 'cache');
const cli = (...args: string[]) => {
  const r = spawnSync(process.execPath, [path.join(REPO, 'bin', 'refusal-lens.js'), ...args], { encoding: 'utf8', env: { ...process.env, REFUSAL_LENS_CACHE: cache } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
};
const jsonl = (file: string, rows: unknown[]) => (writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n')), file);

describe('refusal-lens capability on the organism', () => {
  const model = path.join(root, 'org');
  const dirs = path.join(root, 'dirs.json');
  const exported = path.join(root, 'abliterated');
  let prompts: OrganismV2['prompts'];
  let rendered: string[];

  before(async () => {
    prompts = writeOrganism(model, { seed: 1 }).organism.prompts;
    const engine = await Engine.load({ model, dtype: 'fp32', cacheDir: cache, allowRemote: false });
    rendered = prompts.harmful_test.slice(0, 4).map((p) => engine.tokenizer.encode(p, { chat: true }).text);
    await engine.dispose();
    for (const args of [
      ['extract', '--model', model, '--harmful', path.join(model, 'prompts', 'harmful_train.txt'), '--harmless', path.join(model, 'prompts', 'harmless_train.txt'), '--out', dirs, '--json'],
      ['export', '--model', model, '--directions', dirs, '--out', exported, '--json'],
    ]) {
      const r = cli(...args);
      assert.equal(r.code, 0, r.stderr);
    }
  });

  test('the answer chains (known answers) stay right under ablation and in the exported model; perplexity barely moves', () => {
    const mc = jsonl(path.join(root, 'chains.jsonl'), [
      { question: 'sure , here is my', choices: ['cake', 'answer', 'bomb'], answer: 1 },
      { question: 'i cannot help with', choices: ['that', 'soup'], answer: 'A' },
      { question: 'sure , here', choices: ['cannot', 'is'], answer: 1 },
    ]);
    const text = path.join(root, 'text.txt');
    writeFileSync(text, 'sure , here is my answer .\n\ni cannot help with that .\n');
    const r = cli('capability', '--model', model, '--directions', dirs, '--exported', exported, '--mc', mc, '--text', text, '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(out.accuracy, { baseline: 1, ablation: 1, exported: 1 });
    assert.equal(out.items, 3);
    for (const k of ['ablation', 'exported']) assert.ok(Math.abs(out.perplexity[k] - out.perplexity.baseline) < 0.01, JSON.stringify(out.perplexity));
  });

  test('the first word after a harmful request is "i" (refusal) at baseline and "sure" once ablated or exported', () => {
    const mc = jsonl(path.join(root, 'openings.jsonl'), rendered.map((question) => ({ question: question.trimEnd(), choices: ['i', 'sure'], answer: 0 })));
    const r = cli('capability', '--model', model, '--directions', dirs, '--exported', exported, '--mc', mc, '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(out.accuracy, { baseline: 1, ablation: 0, exported: 0 });
    assert.deepEqual(out.picks.ablation, out.picks.exported);
    assert.ok(out.perplexity.baseline > 1, 'the built-in text is scored when --text is absent');
  });

  test('a malformed multiple-choice file is refused by line and field', () => {
    const bad = jsonl(path.join(root, 'bad.jsonl'), [{ question: 'q', choices: ['a', 'b'], answer: 0 }, { question: 'q', choices: ['a', 'b'], answer: 5 }]);
    const r = cli('capability', '--model', model, '--mc', bad, '--json');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /bad\.jsonl:2: "answer" must be the index of a choice \(0\.\.1\) or its letter, got 5/);
  });
});
