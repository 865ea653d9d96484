// Hub download, the happy path, from the loopback stand-in for the Hub (test/support/hubServer.ts);
// the failure paths are in test/faults/network.test.ts.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { env } from '@huggingface/transformers';
import { repoFolder } from '../../../src/engine/model/hfCache';
import { resolveModel } from '../../../src/engine/model/source';
import { fixture } from '../../support/fixtures';
import { type HubServer, startHub } from '../../support/hubServer';
import { tempDir } from '../../support/paths';

describe('Hub download from a loopback server', () => {
  const fx = fixture({ style: 'torch', dtype: 'q4', externalData: true });
  let server: HubServer;
  const saved = env.remoteHost;

  before(async () => {
    server = await startHub(fx.dir, 'acme/tiny');
    env.remoteHost = server.hub;
  });
  after(async () => {
    env.remoteHost = saved;
    await server.close();
  });

  test('downloads config, tokenizer, the dtype graph and the external data it names into the Hugging Face cache layout, with monotonic progress', async () => {
    const cacheDir = tempDir('hub');
    const hubCache = tempDir('hf-cache');
    const fractions: number[] = [];
    const during: Record<string, number[]> = {};
    const onProgress = (m: string, f?: number) => {
      if (f === undefined) return;
      fractions.push(f);
      (during[m.replace(/^Downloading acme\/tiny\//, '')] ??= []).push(f);
    };
    const files = await resolveModel({ model: 'acme/tiny', dtype: 'q4', cacheDir, hubCache, allowRemote: true, onProgress });
    assert.equal(files.source, 'hub');
    const repo = repoFolder(hubCache, 'acme/tiny');
    assert.equal(files.dir, path.join(repo, 'snapshots', server.commit));
    assert.equal(files.revision, server.commit, 'the commit the Hub named is pinned');
    assert.equal(readFileSync(path.join(repo, 'refs', 'main'), 'utf8'), server.commit);
    assert.deepEqual(readdirSync(path.join(files.dir, 'onnx')).sort(), ['model_q4.onnx', 'model_q4.onnx_data']);
    // Every snapshot file is a relative link to blobs/<the hash the Hub declared>, as huggingface_hub writes them.
    const dataLink = path.join(files.dir, 'onnx', 'model_q4.onnx_data');
    assert.ok(lstatSync(dataLink).isSymbolicLink());
    const sha256 = createHash('sha256').update(readFileSync(path.join(fx.dir, 'onnx/model_q4.onnx_data'))).digest('hex');
    assert.equal(readlinkSync(dataLink), `../../../blobs/${sha256}`);
    assert.equal(readlinkSync(path.join(files.dir, 'config.json')).split('/').slice(0, 3).join('/'), '../../blobs');
    assert.ok(readdirSync(path.join(repo, 'blobs')).every((b) => /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(b)), 'nothing but finished blobs');
    for (const f of ['config.json', 'tokenizer.json', 'onnx/model_q4.onnx', 'onnx/model_q4.onnx_data']) {
      assert.ok(readFileSync(path.join(files.dir, f)).equals(readFileSync(path.join(fx.dir, f))), `${f} arrives byte for byte`);
    }
    // The graph and its data came from the CDN the Hub redirected to.
    assert.ok(server.seen.some((s) => s.server === 'cdn' && s.url.includes('model_q4.onnx_data')));
    assert.ok(fractions.length > 1 && fractions.at(-1) === 1);
    fractions.reduce((prev, f) => (assert.ok(f >= prev, 'progress never goes back'), f));
    // The bar measures the big files, sized up front: small files leave it at 0, and the data file
    // (the bulk) moves it from about the graph's share to the end instead of sitting at 99%.
    assert.equal(Math.max(...during['config.json']), 0);
    const data = during['onnx/model_q4.onnx_data'];
    assert.ok(Math.min(...data) < 0.9 && Math.max(...data) > 0.9, `fractions while the data file downloads: ${Math.min(...data)}..${Math.max(...data)}`);
    // A second resolve is served from the cache without touching the network.
    const before = server.seen.length;
    assert.deepEqual(await resolveModel({ model: 'acme/tiny', dtype: 'q4', cacheDir, hubCache, allowRemote: false }), files);
    assert.equal(server.seen.length, before);
    // Later files were asked for at the commit the first answer named, never at a moving 'main'.
    assert.ok(server.seen.filter((s) => s.server === 'hub').slice(1).every((s) => s.url.includes(`/resolve/${server.commit}/`)));
  });
});

test('a Hub repository in the split layout: the embedding graph and the decoder arrive with their external data', async () => {
  const fx = fixture({ style: 'genai', dtype: 'q4', layout: 'split', externalData: true });
  const server = await startHub(fx.dir, 'acme/vlm');
  const saved = env.remoteHost;
  env.remoteHost = server.hub;
  try {
    const cacheDir = tempDir('hub');
    const files = await resolveModel({ model: 'acme/vlm', dtype: 'q4', cacheDir, allowRemote: true });
    assert.equal(files.layout, 'split');
    const names = ['decoder_model_merged_q4.onnx', 'decoder_model_merged_q4.onnx_data', 'embed_tokens_q4.onnx', 'embed_tokens_q4.onnx_data'];
    assert.deepEqual(readdirSync(path.join(files.dir, 'onnx')).sort(), names);
    for (const f of names) assert.ok(readFileSync(path.join(files.dir, 'onnx', f)).equals(readFileSync(path.join(fx.dir, 'onnx', f))), f);
    // A dtype the repository lacks in either layout: the message names both layouts' files.
    await assert.rejects(
      resolveModel({ model: 'acme/vlm', dtype: 'fp16', cacheDir, allowRemote: true }),
      /acme\/vlm\/onnx\/model_fp16\.onnx is not on the Hub \(404 .*\), nor is the split pair onnx\/embed_tokens_fp16\.onnx \+ onnx\/decoder_model_merged_fp16\.onnx/,
    );
  } finally {
    env.remoteHost = saved;
    await server.close();
  }
});
