// Model folders: what is accepted (broken and hostile folders: test/faults/hostileModels.test.ts).
import assert from 'node:assert/strict';
import { cpSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { EngineError } from '../../../src/engine/model/errors';
import { availableDtypes, resolveModel } from '../../../src/engine/model/source';
import { decodeModel } from '../../../src/engine/onnx/proto';
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

test('a fixture folder resolves, by absolute and by relative path', async () => {
  const fx = fixture({ style: 'torch', dtype: 'fp32' });
  const abs = await resolveModel(opts(fx.dir));
  assert.equal(abs.source, 'local');
  assert.equal(abs.onnxPath, path.join(fx.dir, 'onnx', 'model.onnx'));
  const rel = await resolveModel(opts(path.relative(process.cwd(), fx.dir)));
  assert.equal(rel.dir, fx.dir);
});

test('neither a folder nor a Hub id', async () => {
  await rejects(resolveModel(opts('/no/such/folder')), 'NOT_FOUND', /neither an existing folder nor a Hugging Face Hub id/);
  const file = path.join(tempDir('file'), 'config.json');
  writeFileSync(file, '{}');
  await rejects(resolveModel(opts(file)), 'NOT_FOUND', /is a file/);
});

test('the wire-format scan finds the same external data as a full decode, without loading the weights', () => {
  for (const externalData of [true, false]) {
    const fx = fixture({ style: 'genai', dtype: 'q4', externalData });
    const decoded = (decodeModel(readFileSync(fx.onnxPath)).graph!.initializer ?? [])
      .filter((t) => t.externalData?.length)
      .map((t) => ({ tensor: t.name!, location: t.externalData!.find((e) => e.key === 'location')!.value! }));
    assert.deepEqual(scanExternalData(fx.onnxPath).map(({ tensor, location }) => ({ tensor, location })), decoded);
    assert.equal(decoded.length > 0, externalData);
  }
});

test('the real genai export resolves with its external data', needsRealModels(), async () => {
  const dir = path.join(tempDir('genai'), 'm');
  cpSync(path.join(REAL_MODELS, 'genai-llama-tiny-fp16'), dir, { recursive: true });
  const files = await resolveModel(opts(dir));
  assert.deepEqual(files.externalDataFiles.map((f) => path.basename(f)), ['model.onnx.data']);
});

test('the split layout resolves: embed_tokens + decoder_model_merged of the dtype, both graphs\' external data checked', async () => {
  const fx = fixture({ style: 'torch', dtype: 'q4', layout: 'split', externalData: true });
  const files = await resolveModel(opts(fx.dir, 'q4'));
  assert.equal(files.layout, 'split');
  assert.equal(files.onnxPath, path.join(fx.dir, 'onnx', 'decoder_model_merged_q4.onnx'));
  assert.equal(files.embedPath, path.join(fx.dir, 'onnx', 'embed_tokens_q4.onnx'));
  assert.deepEqual(files.externalDataFiles.map((f) => path.basename(f)).sort(), ['decoder_model_merged_q4.onnx_data', 'embed_tokens_q4.onnx_data']);
  assert.deepEqual(availableDtypes(fx.dir), ['q4']);
  await rejects(resolveModel(opts(fx.dir, 'fp16')), 'MODEL_INVALID', /no onnx\/model_fp16\.onnx .*available dtypes: q4/);
  // The embedding graph's external data is checked as the decoder's is.
  rmSync(path.join(fx.dir, 'onnx', 'embed_tokens_q4.onnx_data'));
  await rejects(resolveModel(opts(fx.dir, 'q4')), 'MODEL_INVALID', /embed_tokens_q4\.onnx: tensor 'model\.embed_tokens\.weight' .*does not exist/);
});

test('a split decoder without its embedding graph, and a lone decoder_model_merged, are refused by name', async () => {
  const fx = fixture({ style: 'genai', dtype: 'q4', layout: 'split' });
  renameSync(path.join(fx.dir, 'onnx', 'embed_tokens_q4.onnx'), path.join(fx.dir, 'onnx', 'embed_tokens.onnx'));
  await rejects(
    resolveModel(opts(fx.dir, 'q4')),
    'MODEL_INVALID',
    /onnx\/decoder_model_merged_q4\.onnx is there but its embedding graph onnx\/embed_tokens_q4\.onnx is not .*embedding graphs present: embed_tokens\.onnx/,
  );
  rmSync(path.join(fx.dir, 'onnx', 'embed_tokens.onnx'));
  await rejects(resolveModel(opts(fx.dir, 'fp32')), 'MODEL_INVALID', /only decoder_model_merged\*\.onnx files exist, without embed_tokens\*\.onnx: that is the pre-v3 layout/);
});
