// Model folders: what is accepted, and the specific refusal for each broken or hostile folder.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { EngineError } from '../../../src/engine/model/errors';
import { checkExternalData, resolveModel } from '../../../src/engine/model/source';
import { decodeModel, encodeModel, f32Tensor, node, onnx, valueInfo } from '../../../src/engine/onnx/proto';
import { scanExternalData } from '../../../src/engine/onnx/scan';
import { fixture } from '../../support/fixtures';
import { needsRealModels, REAL_MODELS, tempDir } from '../../support/paths';

const opts = (model: string, dtype: 'fp32' | 'fp16' | 'q4' = 'fp32') => ({ model, dtype, cacheDir: tempDir('cache'), allowRemote: false });

async function rejects(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof EngineError, String(e));
    assert.equal(e.code, code);
    assert.match(e.message, message);
    return true;
  });
}

/** A one-initializer graph whose weight lives at `location` (relative to the graph's folder). */
function graphWithExternal(dir: string, location: string): string {
  const w = f32Tensor('w', [2], [1, 2]);
  w.rawData = null;
  w.externalData = [
    { key: 'location', value: location },
    { key: 'offset', value: '0' },
    { key: 'length', value: '8' },
  ];
  w.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
  const model: onnx.IModelProto = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'g', node: [node('Add', ['x', 'w'], ['y'], 'add')], initializer: [w], input: [valueInfo('x', 1, [2])], output: [valueInfo('y', 1, [2])] },
  };
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'model.onnx');
  writeFileSync(file, encodeModel(model));
  return file;
}

test('a fixture folder resolves, by absolute and by relative path', async () => {
  const fx = fixture({ style: 'torch', dtype: 'fp32' });
  const abs = await resolveModel(opts(fx.dir));
  assert.equal(abs.source, 'local');
  assert.equal(abs.onnxPath, path.join(fx.dir, 'onnx', 'model.onnx'));
  const rel = await resolveModel(opts(path.relative(process.cwd(), fx.dir)));
  assert.equal(rel.dir, fx.dir);
});

test('a missing dtype names the dtypes the folder has', async () => {
  const fx = fixture({ style: 'torch', dtype: 'q4' });
  await rejects(resolveModel(opts(fx.dir, 'fp16')), 'MODEL_INVALID', /no onnx\/model_fp16\.onnx .* for dtype fp16; available dtypes: q4/);
});

test('missing tokenizer or config files are named', async () => {
  const fx = fixture({ style: 'torch', dtype: 'fp32' });
  unlinkSync(path.join(fx.dir, 'tokenizer.json'));
  await rejects(resolveModel(opts(fx.dir)), 'MODEL_INVALID', /tokenizer\.json is missing/);
});

test('neither a folder nor a Hub id', async () => {
  await rejects(resolveModel(opts('/no/such/folder')), 'NOT_FOUND', /neither an existing folder nor a Hugging Face Hub id/);
  const file = path.join(tempDir('file'), 'config.json');
  writeFileSync(file, '{}');
  await rejects(resolveModel(opts(file)), 'NOT_FOUND', /is a file/);
});

test('external data that escapes the model folder is refused before onnxruntime sees it', () => {
  const root = tempDir('hostile');
  writeFileSync(path.join(root, 'secret.bin'), Buffer.alloc(8));
  const dir = path.join(root, 'onnx');
  const refuse = (location: string, why: RegExp) => {
    const file = graphWithExternal(dir, location);
    assert.throws(() => checkExternalData(file), (e: unknown) => e instanceof EngineError && e.code === 'MODEL_INVALID' && why.test(e.message));
  };
  refuse('../secret.bin', /climbs out of the model folder/);
  refuse(path.join(root, 'secret.bin'), /is an absolute path/);
  symlinkSync(path.join(root, 'secret.bin'), path.join(dir, 'link.bin'));
  refuse('link.bin', /resolves \(through a link\) to .*secret\.bin, outside the model folder/);
  refuse('absent.bin', /does not exist/);
  writeFileSync(path.join(dir, 'weights.bin'), Buffer.alloc(8));
  assert.deepEqual(checkExternalData(graphWithExternal(dir, 'weights.bin')), [path.join(dir, 'weights.bin')]);
  rmSync(root, { recursive: true, force: true });
});

test('the wire-format scan finds the same external data as a full decode, without loading the weights', () => {
  for (const externalData of [true, false]) {
    const fx = fixture({ style: 'genai', dtype: 'q4', externalData });
    const decoded = (decodeModel(readFileSync(fx.onnxPath)).graph!.initializer ?? [])
      .filter((t) => t.externalData?.length)
      .map((t) => ({ tensor: t.name!, location: t.externalData!.find((e) => e.key === 'location')!.value! }));
    assert.deepEqual(scanExternalData(fx.onnxPath), decoded);
    assert.equal(decoded.length > 0, externalData);
  }
});

test('a truncated graph is reported as corrupt, not a crash', async () => {
  const fx = fixture({ style: 'torch', dtype: 'fp32' });
  const bytes = readFileSync(fx.onnxPath);
  writeFileSync(fx.onnxPath, bytes.subarray(0, Math.floor(bytes.length / 3)));
  await rejects(resolveModel(opts(fx.dir)), 'MODEL_INVALID', /not a valid ONNX protobuf .*truncated or corrupt/);
});

test('the real genai export resolves with its external data', needsRealModels(), async () => {
  const dir = path.join(tempDir('genai'), 'm');
  cpSync(path.join(REAL_MODELS, 'genai-llama-tiny-fp16'), dir, { recursive: true });
  const files = await resolveModel(opts(dir));
  assert.deepEqual(files.externalDataFiles.map((f) => path.basename(f)), ['model.onnx.data']);
});
