// The standard Hugging Face cache, as `hf download` / huggingface_hub lay it out (snapshot files are
// relative links into blobs/): a model already there loads by Hub id without any network and from
// its snapshot folder, external data included, through a real onnxruntime session; a link that
// leaves the repository's blobs/ is still refused; the token file the official tools write is used.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Engine } from '../../../src/engine/engine';
import { EngineError } from '../../../src/engine/model/errors';
import { blobLink, hfHubCache, hfToken, repoFolder } from '../../../src/engine/model/hfCache';
import { downloadHubModel } from '../../../src/engine/model/hub';
import { modelOf } from '../../../src/engine/directions/file';
import { LoadParams } from '../../../src/protocol';
import { fixture } from '../../support/fixtures';
import { listFiles, startHub } from '../../support/hubServer';
import { tempDir } from '../../support/paths';

const ID = 'acme/cached';
const COMMIT = 'c0ffee'.padEnd(40, '0');

/** Lays the model folder `src` out in `cache` the way huggingface_hub does: blobs named by sha256, snapshot links, refs/main. */
const mkdirp = (dir: string) => (mkdirSync(dir, { recursive: true }), dir);

function layOut(src: string, cache: string, id: string, commit = COMMIT): string {
  const repo = repoFolder(cache, id);
  const snapshot = path.join(repo, 'snapshots', commit);
  mkdirSync(path.join(repo, 'blobs'), { recursive: true });
  mkdirSync(path.join(repo, 'refs'), { recursive: true });
  writeFileSync(path.join(repo, 'refs', 'main'), commit);
  for (const file of listFiles(src)) {
    const bytes = readFileSync(path.join(src, file));
    const blob = createHash('sha256').update(bytes).digest('hex');
    writeFileSync(path.join(repo, 'blobs', blob), bytes);
    mkdirSync(path.dirname(path.join(snapshot, file)), { recursive: true });
    symlinkSync(blobLink(file, blob), path.join(snapshot, file));
  }
  return snapshot;
}

describe('the standard Hugging Face cache', () => {
  const fx = fixture({ style: 'torch', dtype: 'fp32', externalData: true });
  const hubCache = tempDir('hf-hub');
  const cacheDir = tempDir('hf-own');
  let snapshot: string;
  const saved = { ...process.env };
  before(() => {
    snapshot = layOut(fx.dir, hubCache, ID);
    // The real Hub is unreachable anyway; an endpoint that refuses connections proves nothing is fetched.
    process.env.HF_ENDPOINT = 'http://127.0.0.1:9/';
  });
  after(() => {
    process.env = saved;
  });
  const load = (model: string, extra: object = {}) => Engine.load(LoadParams.parse({ model, cacheDir, allowRemote: false, ...extra }), {});

  test('the layout is the real one: the graph and its external data are links into blobs/', () => {
    for (const f of ['onnx/model.onnx', 'onnx/model.onnx_data']) assert.match(path.relative(snapshot, path.resolve(path.dirname(path.join(snapshot, f)), readlinkSync(path.join(snapshot, f)))), /^\.\.\/\.\.\/blobs\/[0-9a-f]{64}$/);
  });

  test('a Hub id already in the cache loads with downloads off, pins the commit, and doctor passes on its linked weights', async () => {
    process.env.HF_HUB_CACHE = hubCache;
    const engine = await load(ID);
    try {
      assert.equal(engine.info.source, 'hub');
      assert.equal(engine.info.dir, snapshot);
      assert.equal(engine.info.revision, COMMIT);
      assert.equal(modelOf(engine.info).revision, COMMIT, 'direction files record the commit');
      const doctor = await engine.doctor({});
      assert.ok(doctor.ok, `doctor on the cached model: max |Δlogit| ${doctor.max_abs_diff}`);
      const [item] = (await engine.forward({ inputs: [{ prompt: 'hello world', chat: false }], hooks: [], logits: 'last' })).items;
      assert.ok(item.logits!.every(Number.isFinite));
    } finally {
      await engine.dispose();
      delete process.env.HF_HUB_CACHE;
    }
  });

  test('its snapshot folder loads as a model folder, with the same logits as the original folder', async () => {
    const [a, b] = [await load(snapshot), await load(fx.dir)];
    try {
      assert.equal(a.info.source, 'local');
      assert.equal(a.info.revision, COMMIT);
      const run = async (e: Engine) => (await e.forward({ inputs: [{ prompt: 'the sea', chat: false }], hooks: [], logits: 'last' })).items[0].logits!;
      assert.deepEqual([...(await run(a))], [...(await run(b))]);
    } finally {
      await a.dispose();
      await b.dispose();
    }
  });

  test('a snapshot link that leaves the repository (to another folder, or to another repository’s blobs) is refused', async () => {
    const other = layOut(fx.dir, hubCache, 'acme/other');
    const data = path.join(snapshot, 'onnx', 'model.onnx_data');
    const target = path.resolve(path.dirname(data), readlinkSync(data));
    for (const outside of [path.join(tempDir('hf-outside'), 'weights.bin'), path.resolve(path.dirname(path.join(other, 'onnx/model.onnx_data')), readlinkSync(path.join(other, 'onnx/model.onnx_data')))]) {
      if (!outside.includes('acme--other')) writeFileSync(outside, readFileSync(target));
      unlinkSync(data);
      symlinkSync(outside, data);
      await assert.rejects(load(snapshot), (e: unknown) => e instanceof EngineError && e.code === 'MODEL_INVALID' && /resolves \(through a link\) to .*, outside the model folder/.test(e.message));
    }
    unlinkSync(data);
    symlinkSync(path.relative(path.dirname(data), target), data);
    await (await load(snapshot)).dispose();
  });

  test('cache location and token follow huggingface_hub: HF_HUB_CACHE, else HF_HOME/hub; HF_TOKEN, else HF_HOME/token', async () => {
    const home = tempDir('hf-home');
    for (const k of ['HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE', 'HF_TOKEN', 'HF_TOKEN_PATH', 'HUGGING_FACE_HUB_TOKEN', 'HF_ACCESS_TOKEN']) delete process.env[k];
    process.env.HF_HOME = home;
    assert.equal(hfHubCache(), path.join(home, 'hub'));
    assert.equal(hfToken(), undefined);
    writeFileSync(path.join(home, 'token'), 'hf_fromfile\n');
    assert.equal(hfToken(), 'hf_fromfile');
    // The token goes to the Hub with a download.
    const server = await startHub(fx.dir, ID);
    process.env.HF_ENDPOINT = server.hub;
    try {
      await downloadHubModel(ID, 'fp32', { cacheDir: tempDir('hf-dl'), allowRemote: true });
      const hub = server.seen.filter((s) => s.server === 'hub');
      assert.ok(hub.length > 0 && hub.every((s) => s.headers.authorization === 'Bearer hf_fromfile'));
      assert.ok(server.seen.filter((s) => s.server === 'cdn').every((s) => s.headers.authorization === undefined), 'never to the CDN');
      process.env.HF_TOKEN = 'hf_fromenv';
      assert.equal(hfToken(), 'hf_fromenv');
    } finally {
      await server.close();
    }
  });

  test('a snapshot missing a file this dtype needs is completed in place: only the missing file is fetched', async () => {
    const server = await startHub(fx.dir, ID);
    const cache = tempDir('hf-partial');
    const snap = layOut(fx.dir, cache, ID, server.commit);
    for (const f of ['generation_config.json', 'special_tokens_map.json', 'chat_template.jinja']) {
      if (!existsSync(path.join(snap, f))) writeFileSync(path.join(mkdirp(path.join(repoFolder(cache, ID), '.no_exist', server.commit)), f), '');
    }
    const link = path.join(snap, 'onnx', 'model.onnx_data');
    const blob = path.resolve(path.dirname(link), readlinkSync(link));
    unlinkSync(link);
    unlinkSync(blob);
    Object.assign(process.env, { HF_ENDPOINT: server.hub, HF_HUB_CACHE: cache });
    try {
      const engine = await Engine.load(LoadParams.parse({ model: ID, cacheDir, allowRemote: true }), {});
      await engine.dispose();
      assert.equal(engine.info.dir, snap);
      assert.equal(readlinkSync(link), path.relative(path.dirname(link), blob), 'the same blob name, linked from the same snapshot');
      const fetched = server.seen.filter((s) => s.server === 'hub').map((s) => s.url.replace(/^.*\/resolve\/[^/]+\//, ''));
      // config.json names the commit; everything else but the data file was already there, and the
      // optional files the repository lacks were recorded as missing (.no_exist/) by the first load.
      assert.deepEqual([...new Set(fetched)], ['config.json', 'onnx/model.onnx_data']);
    } finally {
      delete process.env.HF_HUB_CACHE;
      await server.close();
    }
  });
});
