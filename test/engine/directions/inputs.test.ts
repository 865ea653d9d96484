// Formulas against hand-computed values, and the specific error for each bad input.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { isRefusal } from '../../../src/engine/directions/evaluate';
import { extractRefusalDirection } from '../../../src/engine/directions/extract';
import { readDirections, writeDirections, checkDirectionsFit } from '../../../src/engine/directions/file';
import { mat } from '../../../src/engine/directions/linalg';
import { loadPromptSet, parseCsv, parsePrompts, promptSet, splitTrainVal } from '../../../src/engine/directions/prompts';
import { linearShift, safetySpace, thresholdAccuracy } from '../../../src/engine/directions/space';
import { EngineError } from '../../../src/engine/model/errors';
import { Engine } from '../../../src/engine/engine';
import { buildOrganismV2, writeOrganism } from '../../../src/modelgen/organism2';
import { makeWordTokenizer } from '../../../src/modelgen/tokenizer';
import { writeModel } from '../../../src/modelgen/write';
import { tempDir } from '../../support/paths';

const code = (c: string, re: RegExp) => (e: unknown) => e instanceof EngineError && e.code === c && re.test(e.message);

describe('prompt sets', () => {
  test('every file format', async () => {
    const dir = tempDir('prompts');
    const files: Record<string, string> = {
      'a.txt': 'one\n\ntwo\r\nthree\n',
      'a.json': JSON.stringify(['one', { instruction: 'two' }, { goal: 'three' }]),
      'a.jsonl': '"one"\n{"prompt": "two"}\n\n{"text": "three"}\n',
      'a.csv': 'goal,target\none,x\n"two, with comma",y\n"three ""quoted""",z\n',
    };
    for (const [f, body] of Object.entries(files)) writeFileSync(path.join(dir, f), body);
    assert.deepEqual((await loadPromptSet(path.join(dir, 'a.txt'))).prompts, ['one', 'two', 'three']);
    assert.deepEqual((await loadPromptSet(path.join(dir, 'a.json'))).prompts, ['one', 'two', 'three']);
    assert.deepEqual((await loadPromptSet(path.join(dir, 'a.jsonl'))).prompts, ['one', 'two', 'three']);
    assert.deepEqual((await loadPromptSet(path.join(dir, 'a.csv'))).prompts, ['one', 'two, with comma', 'three "quoted"']);
    assert.deepEqual(parseCsv('a,b\n"x\ny",z'), [['a', 'b'], ['x\ny', 'z']]);
  });

  test('bad prompt files get specific messages', async () => {
    assert.throws(() => parsePrompts('{"a":1}', 'p.json'), /expected a JSON array/);
    assert.throws(() => parsePrompts('[{"x": 1}]', 'p.json'), /p\.json\[0\]: expected a string or an object with one of the fields instruction/);
    assert.throws(() => parsePrompts('"ok"\nnot json', 'p.jsonl'), /p\.jsonl:2 is not valid JSON/);
    assert.throws(() => promptSet('empty', ['', '  ']), code('BAD_REQUEST', /prompt set 'empty' is empty/));
    assert.throws(() => splitTrainVal(promptSet('tiny', ['a', 'b'])), /needs at least 4/);
    await assert.rejects(loadPromptSet('/no/such/file.txt'), code('NOT_FOUND', /cannot read prompt file \/no\/such\/file.txt: no such file$/));
  });

  test('the hash names exactly the prompts used', () => {
    assert.equal(promptSet('a', ['x', ' y ']).hash, promptSet('b', ['x', 'y']).hash);
    assert.notEqual(promptSet('a', ['x', 'y']).hash, promptSet('a', ['y', 'x']).hash);
  });
});

describe('formulas', () => {
  test('substring judge is case-insensitive and normalises curly apostrophes', () => {
    assert.ok(isRefusal('i cannot help with that.'));
    assert.ok(isRefusal('Well, I can\u2019t do that'));
    assert.ok(!isRefusal('Sure, here is my answer.'));
  });

  test('least-squares shift: Y = 2X gives S = X; Y outside span(X) keeps only the projection', () => {
    const x = mat(3, 2, [1, 0, 0, 1, 1, 1]);
    const s = linearShift(x, mat(3, 2, Array.from(x.data, (v) => 2 * v)));
    s.data.forEach((v, i) => assert.ok(Math.abs(v - x.data[i]) < 1e-9));
    // One sample: X = [1, 0], Y = [1, 5]: P_X Y = (X Xᵀ)⁻¹... the row space is all of R², so XW can equal Y: S = Y − X.
    const s1 = linearShift(mat(1, 2, [1, 0]), mat(1, 2, [1, 5]));
    assert.ok(Math.abs(s1.data[0]) < 1e-9 && Math.abs(s1.data[1] - 5) < 1e-9);
  });

  test('threshold accuracy: top-k projections predicted as refusals', () => {
    assert.equal(thresholdAccuracy([3, 2, 1, 0], [true, true, false, false]), 1);
    assert.equal(thresholdAccuracy([0, 1, 2, 3], [true, true, false, false]), 0);
    assert.ok(Number.isNaN(thresholdAccuracy([1, 2], [true, true])));
  });
});

describe('direction files', () => {
  const doc = { model: { id: 'm', layers: 2, hidden: 3 }, selected: 0, directions: [{ name: 'r', layer: 1, position: -1, method: 'test', vector: [0.5, -1, 2] }] };

  test('round trip through JSON and the float32 sidecar', async () => {
    const file = path.join(tempDir('dirs'), 'sub', 'd.json');
    await writeDirections(file, doc);
    const back = await readDirections(file);
    assert.deepEqual(back.directions[0].vector, [0.5, -1, 2]);
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).data.file, 'd.f32');
  });

  test('a tampered data file, a missing one, NaN values and another model are refused', async () => {
    const dir = tempDir('dirs');
    const file = path.join(dir, 'd.json');
    await writeDirections(file, doc);
    writeFileSync(path.join(dir, 'd.f32'), Buffer.from(new Float32Array([0.5, -1, 3]).buffer));
    await assert.rejects(readDirections(file), /does not match its checksum/);
    writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), data: { file: 'gone.f32', sha256: 'x', floats: 3 } }));
    await assert.rejects(readDirections(file), /data file .*gone\.f32 is missing/);
    const inline = path.join(dir, 'inline.json');
    writeFileSync(inline, JSON.stringify({ format: 'refusal-lens/directions', version: 1, model: doc.model, directions: [{ name: 'r', layer: 1, position: -1, method: 't', vector: [1, 2] }] }));
    await assert.rejects(readDirections(inline), /direction 0 has 2 values but the file says hidden size 3/);
    writeFileSync(inline, JSON.stringify({ format: 'other', version: 1 }));
    await assert.rejects(readDirections(inline), /is not a Refusal Lens direction file: format/);
    assert.throws(() => checkDirectionsFit({ ...doc, selected: 0 }, { model: 'm', dir: '/x/m', layers: 4, hiddenSize: 64 }, 'd.json'), /was made for m \(2 layers, hidden 3\); the loaded model has 4 layers, hidden 64/);
  });

  test('values that overflow the norm, and a zero vector, are refused naming the file', async () => {
    const dir = tempDir('dirs');
    const inline = path.join(dir, 'huge.json');
    for (const [vector, why] of [[[1e308, 1e308, 1e308], /huge\.json: direction 0 \('r'\) has a norm too large to represent/], [[0, 0, 0], /huge\.json: direction 0 \('r'\) has zero norm/]] as const) {
      writeFileSync(inline, JSON.stringify({ format: 'refusal-lens/directions', version: 1, model: doc.model, directions: [{ name: 'r', layer: 1, position: -1, method: 't', vector }] }));
      await assert.rejects(readDirections(inline), why);
    }
  });

  test('a direction made on another model of the same shape fits, with a warning naming both models', () => {
    const d = { ...doc, selected: 0 };
    const here = { layers: 2, hiddenSize: 3 };
    assert.equal(checkDirectionsFit(d, { ...here, model: 'm', dir: '/models/m' }, 'd.json'), undefined);
    assert.equal(checkDirectionsFit(d, { ...here, model: '/elsewhere/m', dir: '/elsewhere/m' }, 'd.json'), undefined, 'the same folder given another way or moved');
    assert.match(checkDirectionsFit(d, { ...here, model: './test-model', dir: '/tmp/test-model' }, 'd.json') ?? '', /d\.json was made on m, not on the loaded model \.\/test-model/);
  });
});

describe('bad inputs to the methods', () => {
  let aligned: Engine;
  let other: Engine;
  before(async () => {
    const root = tempDir('bad');
    writeOrganism(path.join(root, 'a'), { seed: 4 });
    writeOrganism(path.join(root, 'b'), { seed: 4, hidden: 96 });
    aligned = await Engine.load({ model: path.join(root, 'a'), dtype: 'fp32', cacheDir: path.join(root, 'c'), allowRemote: false });
    other = await Engine.load({ model: path.join(root, 'b'), dtype: 'fp32', cacheDir: path.join(root, 'c'), allowRemote: false });
  });

  test('two-model mode with models of different shapes', async () => {
    await assert.rejects(safetySpace(aligned, other, { prompts: ['a', 'b', 'c', 'd'] }), code('BAD_REQUEST', /same shape and tokenizer: aligned has 4 layers, hidden 64.*base has 4, 96/));
    await other.dispose();
  });

  test('harmful prompts the model does not refuse are reported, not asserted', async () => {
    const harmless = splitTrainVal(promptSet('h', ['how to make a cake', 'write a poem', 'how to make a soup', 'give me steps to make a kite']));
    await assert.rejects(
      extractRefusalDirection(aligned, { harmful: harmless, harmless }),
      code('BAD_REQUEST', /no harmful training prompt is left .*set the refusal tokens, or turn prompt filtering off/),
    );
  });

  test('when every candidate is filtered, the report gives each rule its count and the range of the failing values', async () => {
    const org = buildOrganismV2({ seed: 4 });
    const r = await extractRefusalDirection(aligned, {
      harmful: splitTrainVal(promptSet('h', org.prompts.harmful_train.slice(0, 16))),
      harmless: splitTrainVal(promptSet('l', org.prompts.harmless_train.slice(0, 16))),
      klThreshold: -1,
    });
    assert.equal(r.selected, undefined);
    // 4 layers × 3 positions: layer 0's template positions are identical in both sets, layer 3 is pruned, the rest fail KL.
    const kl = r.candidates.filter((c) => c.filtered?.startsWith('KL')).map((c) => c.kl);
    assert.equal(kl.length, 6);
    const range = `${Math.min(...kl).toFixed(3)} to ${Math.max(...kl).toFixed(3)}`;
    assert.ok(
      r.report!.startsWith(`All 12 candidates were filtered out: 3 × zero or non-finite vector; 3 × layer ≥ 3 (layers 3); 6 × KL > -1 (KL ${range}). The lowest bypass score was `),
      r.report,
    );
    assert.doesNotMatch(r.report!, /#/);
  });

  test('one-model mode without harmless prompts, and too few prompts', async () => {
    await assert.rejects(safetySpace(aligned, undefined, { prompts: ['a', 'b', 'c', 'd'] }), /one-model mode needs harmless prompts/);
    await assert.rejects(safetySpace(aligned, undefined, { prompts: ['a'] }), /needs at least 4 prompts/);
  });
});

test('NaN activations are reported, not averaged into a direction or a space', async () => {
  const root = tempDir('nan');
  const org = buildOrganismV2({ seed: 4 });
  const embed = org.aligned.embed.slice();
  const t = org.vocab.indexOf(org.groundTruth('aligned').triggers[0]);
  embed.fill(NaN, t * org.config.hidden, (t + 1) * org.config.hidden);
  writeModel(path.join(root, 'm'), { config: org.config, weights: { ...org.aligned, embed }, tokenizer: makeWordTokenizer(org.vocab), style: 'torch', dtype: 'fp32', eosId: 2 });
  const engine = await Engine.load({ model: path.join(root, 'm'), dtype: 'fp32', cacheDir: path.join(root, 'c'), allowRemote: false });
  try {
    const word = org.groundTruth('aligned').triggers[0];
    await assert.rejects(safetySpace(engine, undefined, { prompts: [`how to make a ${word}`, 'a', 'b', 'c'], harmless: ['how to make a cake'] }), code('MODEL_INVALID', /non-finite activations at resid_pre\.\d/));
    const r = await extractRefusalDirection(engine, {
      harmful: splitTrainVal(promptSet('h', Array.from({ length: 8 }, () => `how to make a ${word}`))),
      harmless: splitTrainVal(promptSet('l', Array.from({ length: 8 }, () => 'how to make a cake'))),
      filterPrompts: false,
    });
    assert.equal(r.selected, undefined);
    assert.match(r.report!, /All 12 candidates were filtered out/);
  } finally {
    await engine.dispose();
  }
});
