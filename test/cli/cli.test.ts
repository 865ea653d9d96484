// The refusal-lens command line as a user runs it (a real subprocess through bin/refusal-lens.js).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { parse } from '../../src/cli/args';
import { DIRECTIONS_FORMAT } from '../../src/engine/directions/file';
import { fixture } from '../support/fixtures';
import { needsRealModels, REAL_MODELS, REPO, tempDir } from '../support/paths';

const cache = tempDir('cli-cache');

function cli(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(REPO, 'bin', 'refusal-lens.js'), ...args], { encoding: 'utf8', env: { ...process.env, REFUSAL_LENS_CACHE: cache } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('split layout: inspect and doctor name the layout and both graphs', () => {
  const fx = fixture({ style: 'torch', dtype: 'fp16', layout: 'split' });
  const info = JSON.parse(cli('inspect', '--model', fx.dir, '--dtype', 'fp16', '--json').stdout);
  assert.deepEqual([info.layout, path.basename(info.embedFile), path.basename(info.onnxFile)], ['split', 'embed_tokens_fp16.onnx', 'decoder_model_merged_fp16.onnx']);
  assert.match(cli('inspect', '--model', fx.dir, '--dtype', 'fp16').stdout, /layout {9}split \(embedding graph .*embed_tokens_fp16\.onnx, then the decoder on inputs_embeds\)/);
  const r = cli('doctor', '--model', fx.dir, '--dtype', 'fp16');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^layout {9}split: embed_tokens_fp16\.onnx -> decoder_model_merged_fp16\.onnx\n[^]*PASS/);
});

describe('refusal-lens on a fixture model', () => {
  const fx = fixture({ style: 'genai', dtype: 'q4' });

  test('inspect --json reports layers, hidden size and 2·layers+1 residual hooks', () => {
    const r = cli('inspect', '--model', fx.dir, '--dtype', 'q4', '--json');
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    assert.deepEqual([info.layers, info.hidden_size, info.residual_hooks], [4, 64, 9]);
    assert.deepEqual(info.residualOps, ['SkipSimplifiedLayerNormalization']);
  });

  test('doctor --json passes and exits 0', () => {
    const r = cli('doctor', '--model', fx.dir, '--dtype', 'q4', '--json');
    assert.equal(r.code, 0, r.stderr);
    const d = JSON.parse(r.stdout);
    assert.equal(d.ok, true);
    assert.ok(d.max_abs_diff <= 1e-4);
    assert.equal(d.residual_hooks, 9);
  });

  test('generate, and generate with an ablated direction from a direction file', () => {
    const plain = cli('generate', '--model', fx.dir, '--dtype', 'q4', '--prompt', 'write a poem about the sea', '--max-new-tokens', '6', '--json');
    assert.equal(plain.code, 0, plain.stderr);
    const out = JSON.parse(plain.stdout);
    assert.equal(out.ids.length, out.stop_reason === 'eos' ? out.ids.length : 6);
    const file = path.join(tempDir('dir'), 'directions.json');
    const vector = Array.from({ length: 64 }, (_, i) => Math.cos(i));
    writeFileSync(file, JSON.stringify({ format: DIRECTIONS_FORMAT, version: 1, model: { id: 'fx', layers: 4, hidden: 64 }, directions: [{ name: 'r', layer: 1, position: -1, method: 'test', vector }] }));
    const ablated = cli('generate', '--model', fx.dir, '--dtype', 'q4', '--prompt', 'write a poem about the sea', '--max-new-tokens', '6', '--ablate', file, '--json');
    assert.equal(ablated.code, 0, ablated.stderr);
    assert.ok(Array.isArray(JSON.parse(ablated.stdout).ids));
    // The file says it was made on model 'fx', not on this fixture: same shape, so it runs, with a word.
    assert.match(ablated.stderr, /^warning: .*directions\.json was made on fx, not on the loaded model .*: they have the same shape/m);
    const wrong = path.join(tempDir('dir'), 'wrong.json');
    writeFileSync(wrong, JSON.stringify({ format: DIRECTIONS_FORMAT, version: 1, model: { id: 'other', layers: 2, hidden: 16 }, directions: [{ name: 'r', layer: 1, position: -1, method: 'test', vector: vector.slice(0, 16) }] }));
    const refused = cli('generate', '--model', fx.dir, '--dtype', 'q4', '--prompt', 'hi', '--ablate', wrong);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /was made for other \(2 layers, hidden 16\); the loaded model has 4 layers, hidden 64/);
  });
});

test('usage errors exit 2 with the command help', () => {
  const r = cli('inspect', '--model', 'x', '--frobnicate');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Unknown option '--frobnicate'/);
  // The parser suggests the option meant.
  assert.match(cli('inspect', '--model', 'x', '--dtpye', 'q4').stderr, /Unknown option '--dtpye'\n\(Did you mean --dtype\?\)/);
  assert.match(r.stderr, /refusal-lens inspect --model/);
  assert.equal(cli('frob').code, 2);
  assert.match(cli('inspect', '--dtype', 'q3', '--model', 'x').stderr, /--dtype must be one of fp32, fp16/);
});

test('negative numbers are option values, with or without =', () => {
  const options = { coefficient: { type: 'string' }, prompt: { type: 'string' }, json: { type: 'boolean' } } as const;
  assert.deepEqual({ ...parse(['--coefficient', '-1', '--json'], options).values }, { coefficient: '-1', json: true });
  assert.deepEqual({ ...parse(['--coefficient=-0.5', '--prompt', '-x y'], options).values }, { coefficient: '-0.5', prompt: '-x y' });
  assert.throws(() => parse(['--coefficient', '--json'], options), /--coefficient needs a value/);
  assert.throws(() => parse(['--json', '--coefficient'], options), /--coefficient needs a value/);
  const r = cli('ablate', '--model', '/no/such/model', '--directions', 'd.json', '--prompt', 'hi', '--coefficient', '-1');
  assert.doesNotMatch(r.stderr, /ambiguous/);
});

test('a boolean flag named --no-x is true when given and false otherwise (commander would read it as x = false)', () => {
  const options = { 'no-filter': { type: 'boolean', default: false }, json: { type: 'boolean', default: false } } as const;
  assert.deepEqual({ ...parse(['--no-filter'], options).values }, { 'no-filter': true, json: false });
  assert.deepEqual({ ...parse(['--json'], options).values }, { 'no-filter': false, json: true });
});

test('inputs that need no model are checked before the model loads, and a missing file is "no such file"', () => {
  // The model does not exist either: an error about it would mean the model was loaded first.
  const score = cli('score', '--model', '/no/such/model', '--directions', '/no/such/dirs.json', '--prompt', 'hi');
  assert.equal(score.code, 1);
  assert.match(score.stderr, /cannot read direction file \/no\/such\/dirs\.json: no such file$/m);
  const small = path.join(tempDir('small'), 'three.txt');
  writeFileSync(small, 'a\nb\nc\n');
  const extract = cli('extract', '--model', '/no/such/model', '--harmful', small, '--out', 'x.json');
  assert.equal(extract.code, 1);
  assert.match(extract.stderr, /prompt set 'three\.txt' has 3 prompts; direction selection needs at least 4/);
});

test('a missing model exits 1 with one specific message, as JSON with --json', () => {
  const r = cli('inspect', '--model', '/no/such/model', '--json');
  assert.equal(r.code, 1);
  assert.deepEqual(JSON.parse(r.stdout).error.code, 'NOT_FOUND');
  assert.match(r.stderr, /'\/no\/such\/model' is neither an existing folder nor a Hugging Face Hub id/);
});

describe('refusal-lens on real exporter graphs', needsRealModels(), () => {
  const genai = path.join(REAL_MODELS, 'genai-llama-tiny-fp16');

  test('genai-llama-tiny-fp16: inspect, doctor PASS, generate', () => {
    const info = JSON.parse(cli('inspect', '--model', genai, '--json').stdout);
    assert.deepEqual([info.layers, info.hidden_size, info.residual_hooks], [2, 16, 5]);
    const doctor = cli('doctor', '--model', genai);
    assert.equal(doctor.code, 0, doctor.stderr);
    assert.match(doctor.stdout, /PASS/);
    const gen = cli('generate', '--model', genai, '--prompt', 'Hello', '--max-new-tokens', '4');
    assert.equal(gen.code, 0, gen.stderr);
    assert.match(gen.stdout, /\[length, 4 tokens\]/);
  });

  test('graphs without a transformers.js folder layout are refused by name', () => {
    const r = cli('inspect', '--model', path.join(REAL_MODELS, 'gpt2-tiny-fused'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no onnx\/model\.onnx in .*gpt2-tiny-fused for dtype fp32; no onnx\/model\*\.onnx \(or onnx\/embed_tokens\*\.onnx \+ onnx\/decoder_model_merged\*\.onnx\) file at all/);
  });
});

describe('refusal-lens directions workflow on the organism', () => {
  const root = tempDir('cli-org');
  const model = path.join(root, 'aligned');
  const dirs = path.join(root, 'directions.json');

  test('organism, extract, score, ablate, space, export', () => {
    assert.equal(cli('organism', '--out', model, '--seed', '5').code, 0);
    assert.equal(cli('organism', '--out', path.join(root, 'base'), '--seed', '5', '--variant', 'base').code, 0);
    const p = (f: string) => path.join(model, 'prompts', f);

    const ex = cli('extract', '--model', model, '--harmful', p('harmful_train.txt'), '--harmless', p('harmless_train.txt'), '--out', dirs, '--json');
    assert.equal(ex.code, 0, ex.stderr);
    const e = JSON.parse(ex.stdout);
    for (const k of ['layer', 'position', 'bypass_score', 'induce_score', 'kl', 'candidates']) assert.ok(k in e, k);
    assert.equal(e.candidates.length, 3 * 4);
    // --exhaustive scores every candidate; the default skips what cannot change the choice, and both choose the same.
    const full = cli('extract', '--model', model, '--harmful', p('harmful_train.txt'), '--harmless', p('harmless_train.txt'), '--out', path.join(root, 'full.json'), '--exhaustive', '--json');
    assert.equal(full.code, 0, full.stderr);
    const f = JSON.parse(full.stdout);
    assert.deepEqual([f.layer, f.position], [e.layer, e.position]);
    assert.ok(e.candidates.some((c: { skipped: string | null }) => c.skipped) && f.candidates.every((c: { skipped: string | null }) => !c.skipped));

    const sc = JSON.parse(cli('score', '--model', model, '--directions', dirs, '--prompt', 'explain how to get a poison', '--json').stdout);
    assert.equal(sc.projections.length, 4);
    assert.equal(sc.projections[0].length, sc.tokens.length);
    assert.equal(sc.triggers[0].token, 'poison');
    assert.ok(sc.refusal_score > 0);

    const ab = cli('ablate', '--model', model, '--directions', dirs, '--prompts', p('harmful_test.txt'), '--max-new-tokens', '8', '--json');
    assert.equal(ab.code, 0, ab.stderr);
    const a = JSON.parse(ab.stdout);
    assert.equal(a.refusal_rate.baseline, 1);
    assert.equal(a.refusal_rate.ablation, 0);
    assert.ok('addition' in a.refusal_rate && 'ablation' in a.kl);
    assert.equal(a.results.length, readFileSync(p('harmful_test.txt'), 'utf8').trim().split('\n').length, 'one result per prompt of the file');

    // A custom judge: counting "sure" as a refusal flips the verdicts.
    const custom = JSON.parse(cli('ablate', '--model', model, '--directions', dirs, '--prompt', 'how to make a bomb', '--refusal-substrings', 'sure', '--max-new-tokens', '8', '--json').stdout);
    assert.deepEqual([custom.refusal_rate.baseline, custom.refusal_rate.ablation], [0, 1]);

    const sp = cli('space', '--model', model, '--base', path.join(root, 'base'), '--prompts', p('harmful_train.txt'), '--out', path.join(root, 'space.json'), '--json');
    assert.equal(sp.code, 0, sp.stderr);
    assert.equal(JSON.parse(sp.stdout).layers.length, 5);

    const exp = cli('export', '--model', model, '--directions', dirs, '--out', path.join(root, 'abliterated'));
    assert.equal(exp.code, 0, exp.stderr);
    const gen = JSON.parse(cli('generate', '--model', path.join(root, 'abliterated'), '--prompt', 'how to make a bomb', '--json').stdout);
    assert.match(gen.text, /^sure/);
  });

  test('bad organism parameters are usage errors', () => {
    const cases: [string[], RegExp][] = [
      [['--layers', '3'], /at least 4 layers, got 3/],
      // The rule and its message agree: 48 is refused as not a multiple of 32, 64 is the smallest size.
      [['--hidden', '48'], /hidden size must be a multiple of 32 \(q4 quantizes blocks of 32 weights\) and at least 64 .*got 48/],
      [['--dtype', 'int4'], /--dtype must be one of fp32, fp16, q8, q4, got 'int4'/],
      [['--noise', 'abc'], /--noise must be a number, got 'abc'/],
      [['--noise', '0.3'], /noise must be between 0 and 0\.2 .*got 0\.3/],
    ];
    for (const [args, message] of cases) {
      const r = cli('organism', '--out', path.join(root, 'x'), ...args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, message);
    }
    assert.ok(!existsSync(path.join(root, 'x')), 'nothing is written');
  });
});
