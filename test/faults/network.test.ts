// Fault injection, category 5: Hub downloads against real servers on loopback (the real Hub is not
// reachable here): a stand-in for the Hub and its CDN (test/support/hubServer.ts), a CONNECT proxy,
// a TLS server with a self-signed certificate, and real child processes sharing one cache.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { env } from '@huggingface/transformers';
import { EngineError } from '../../src/engine/model/errors';
import { repoFolder } from '../../src/engine/model/hfCache';
import { ATTEMPTS, downloadHubModel } from '../../src/engine/model/hub';
import { DataType, decodeModel, encodeModel, f32Tensor, node, onnx, valueInfo } from '../../src/engine/onnx/proto';
import { PROXY_STRICT_SSL_ENV } from '../../src/protocol';
import { fixture } from '../support/fixtures';
import { type HubServer, startHub } from '../support/hubServer';
import { startProxy } from '../support/proxyServer';
import { REPO, tempDir } from '../support/paths';

const ID = 'acme/tiny';
const DATA = 'onnx/model_q4.onnx_data';
const NETWORK_ENV = ['HF_ENDPOINT', 'HF_TOKEN', 'HF_ACCESS_TOKEN', 'HF_HUB_OFFLINE', PROXY_STRICT_SSL_ENV, ...['http_proxy', 'https_proxy', 'no_proxy'].flatMap((v) => [v, v.toUpperCase()])];

const failsWith = (code: string, re: RegExp) => (e: unknown) => {
  assert.ok(e instanceof EngineError, `an EngineError, got ${e}`);
  assert.equal(e.code, code, e.message);
  assert.match(e.message, re);
  return true;
};

/** Everything under the model's folder of the Hugging Face cache, relative to it. */
function leftIn(cacheDir: string): string[] {
  const dir = repoFolder(cacheDir, ID);
  return existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String) : [];
}

/** The one snapshot folder the download made. */
function snapshotIn(cacheDir: string): string {
  const snapshots = path.join(repoFolder(cacheDir, ID), 'snapshots');
  const [one, ...more] = readdirSync(snapshots);
  assert.equal(more.length, 0, `one snapshot, not ${[one, ...more]}`);
  return path.join(snapshots, one);
}

/** Nothing a later run could take for complete: no part file, no ref naming the snapshot, and not `file` itself in it. */
function assertNothingHalfWritten(cacheDir: string, file: string) {
  const left = leftIn(cacheDir);
  assert.ok(!left.some((f) => f.includes('.part')), `part files left: ${left}`);
  assert.ok(!left.some((f) => f.startsWith('refs')), `ref written: ${left}`);
  assert.ok(!left.some((f) => f.startsWith('snapshots') && f.endsWith(file)), `${file} left at its final name`);
}

/** The download finished: refs/main names its snapshot. */
const refOf = (cacheDir: string) => readFileSync(path.join(repoFolder(cacheDir, ID), 'refs', 'main'), 'utf8');

describe('faults 5: network paths', () => {
  const fx = fixture({ style: 'torch', dtype: 'q4', externalData: true });
  let server: HubServer;
  const savedEnv = Object.fromEntries(NETWORK_ENV.map((k) => [k, process.env[k]]));
  const savedHost = env.remoteHost;

  const download = (cacheDir = tempDir('net'), extra: Partial<Parameters<typeof downloadHubModel>[2]> = {}) =>
    downloadHubModel(ID, 'q4', { cacheDir, allowRemote: true, ...extra });
  const sameAsFixture = (cacheDir: string, file: string) => readFileSync(path.join(snapshotIn(cacheDir), file)).equals(readFileSync(path.join(fx.dir, file)));

  before(async () => {
    server = await startHub(fx.dir, ID);
  });
  beforeEach(() => {
    for (const k of NETWORK_ENV) delete process.env[k];
    process.env.HF_ENDPOINT = server.hub;
    server.seen.length = 0;
    for (const k of Object.keys(server.faults)) delete server.faults[k as keyof typeof server.faults];
  });
  afterEach(() => {
    env.remoteHost = savedHost;
  });
  after(async () => {
    for (const [k, v] of Object.entries(savedEnv)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await server.close();
  });

  describe('proxy', () => {
    test('downloads go through HTTPS_PROXY / HTTP_PROXY: the proxy carries the Hub and the CDN it redirects to', async () => {
      const proxy = await startProxy('tunnel');
      try {
        process.env.HTTPS_PROXY = process.env.HTTP_PROXY = proxy.url;
        const cacheDir = tempDir('net');
        await download(cacheDir);
        assert.ok(sameAsFixture(cacheDir, DATA));
        const hub = new URL(server.hub).host;
        const cdn = new URL(server.cdn).host;
        assert.ok(proxy.tunnels.includes(hub) && proxy.tunnels.includes(cdn), `tunnels: ${proxy.tunnels}`);
        assert.ok(proxy.tunnels.every((t) => t === hub || t === cdn), `tunnels: ${proxy.tunnels}`);
      } finally {
        await proxy.close();
      }
    });

    test('NO_PROXY covering the host bypasses the proxy: it sees no request', async () => {
      const proxy = await startProxy('tunnel');
      try {
        process.env.HTTPS_PROXY = process.env.HTTP_PROXY = proxy.url;
        process.env.NO_PROXY = 'localhost,127.0.0.1';
        await download();
        assert.deepEqual(proxy.tunnels, []);
        assert.ok(server.seen.length > 0);
      } finally {
        await proxy.close();
      }
    });

    test('a proxy that refuses the tunnel is OFFLINE naming the proxy, its credentials masked, nothing left half-written', async () => {
      const proxy = await startProxy('refuse');
      try {
        const port = new URL(proxy.url).port;
        process.env.HTTPS_PROXY = process.env.HTTP_PROXY = `http://alice:s3cret@127.0.0.1:${port}`;
        const cacheDir = tempDir('net');
        await assert.rejects(download(cacheDir), (e: unknown) => {
          failsWith('OFFLINE', new RegExp(`cannot download ${ID}/config\\.json .*403.*through the proxy http://\\*\\*\\*@127\\.0\\.0\\.1:${port}.*http\\.proxy`))(e);
          assert.doesNotMatch((e as Error).message, /s3cret/);
          return true;
        });
        assert.equal(server.seen.length, 0, 'nothing reached the Hub around the proxy');
        assert.equal(proxy.tunnels.length, ATTEMPTS);
        assertNothingHalfWritten(cacheDir, 'config.json');
      } finally {
        await proxy.close();
      }
    });

    test('a proxy that is not listening is OFFLINE naming the proxy', async () => {
      process.env.HTTPS_PROXY = process.env.HTTP_PROXY = 'http://127.0.0.1:9';
      await assert.rejects(download(), failsWith('OFFLINE', /ECONNREFUSED 127\.0\.0\.1:9.*through the proxy http:\/\/127\.0\.0\.1:9/));
      assert.equal(server.seen.length, 0);
    });

    test('a proxy setting that is not a URL is OFFLINE naming it, before any request', async () => {
      process.env.HTTPS_PROXY = process.env.HTTP_PROXY = 'proxy.corp:8080 (ask IT)';
      await assert.rejects(download(), failsWith('OFFLINE', /the proxy 'proxy\.corp:8080 \(ask IT\)' .* is not usable: .*fix or clear the proxy setting/));
      assert.equal(server.seen.length, 0);
    });

    describe('TLS through the proxy', () => {
      let tlsHub: HubServer | undefined;
      const skip = spawnSync('openssl', ['version']).status === 0 ? false : 'openssl is needed to make the self-signed certificate';
      before(async () => {
        if (skip) return;
        const dir = tempDir('tls');
        const [key, cert] = [path.join(dir, 'key.pem'), path.join(dir, 'cert.pem')];
        execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
        tlsHub = await startHub(fx.dir, ID, { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') });
      });
      after(() => tlsHub?.close());

      test("a certificate that does not verify is refused, and accepted once VS Code's http.proxyStrictSSL is off", { skip }, async () => {
        const proxy = await startProxy('tunnel');
        try {
          process.env.HF_ENDPOINT = tlsHub!.hub;
          process.env.HTTPS_PROXY = process.env.HTTP_PROXY = proxy.url;
          await assert.rejects(download(), failsWith('OFFLINE', /self-signed certificate.*through the proxy/));
          assert.ok(proxy.tunnels.length > 0);
          process.env[PROXY_STRICT_SSL_ENV] = 'false';
          const cacheDir = tempDir('net');
          await download(cacheDir);
          assert.ok(sameAsFixture(cacheDir, DATA));
          // Relaxed for the proxy only: the same server reached directly is still refused.
          process.env.NO_PROXY = '127.0.0.1';
          await assert.rejects(download(), failsWith('OFFLINE', /self-signed certificate/));
        } finally {
          await proxy.close();
        }
      });

      test('a redirect from https to plain http is not followed', { skip }, async () => {
        const proxy = await startProxy('tunnel');
        try {
          process.env.HF_ENDPOINT = tlsHub!.hub;
          process.env.HTTPS_PROXY = process.env.HTTP_PROXY = proxy.url;
          process.env[PROXY_STRICT_SSL_ENV] = 'false';
          tlsHub!.faults.redirectTo = server.cdn;
          const cacheDir = tempDir('net');
          await assert.rejects(download(cacheDir), failsWith('OFFLINE', /refusing to follow a redirect from https:\/\/127\.0\.0\.1:\d+ to http:\/\/127\.0\.0\.1:\d+ \(https to http\)/));
          assert.equal(server.seen.length, 0, 'the plain-http server was never asked');
          assertNothingHalfWritten(cacheDir, 'onnx/model_q4.onnx');
        } finally {
          delete tlsHub!.faults.redirectTo;
          await proxy.close();
        }
      });
    });
  });

  describe('offline and Hub settings', () => {
    test('allowRemote false never touches the network and says how to allow downloads', async () => {
      await assert.rejects(download(undefined, { allowRemote: false }), failsWith('OFFLINE', /not in the Hugging Face cache .*downloads are off; allow them \(the refusalLens\.allowDownloads setting, or leave out --offline/));
      assert.equal(server.seen.length, 0);
    });

    test('HF_HUB_OFFLINE=1 is offline too, naming the variable', async () => {
      process.env.HF_HUB_OFFLINE = '1';
      await assert.rejects(download(), failsWith('OFFLINE', /HF_HUB_OFFLINE=1 is set in the environment; unset it/));
      assert.equal(server.seen.length, 0);
    });

    test("HF_ENDPOINT names the Hub (a mirror), ahead of transformers.js's env.remoteHost", async () => {
      env.remoteHost = 'http://127.0.0.1:9/';
      await download();
      assert.ok(server.seen.some((s) => s.url === `/${ID}/resolve/main/config.json`));
    });

    test('HF_TOKEN goes to the Hub as a Bearer token and never to the CDN on another origin it redirects to', async () => {
      process.env.HF_TOKEN = 'hf_loopback_token';
      await download();
      const hub = server.seen.filter((s) => s.server === 'hub');
      const cdn = server.seen.filter((s) => s.server === 'cdn');
      assert.ok(hub.length > 0 && cdn.length > 0);
      assert.ok(hub.every((s) => s.headers.authorization === 'Bearer hf_loopback_token'));
      assert.ok(cdn.every((s) => s.headers.authorization === undefined), 'no credentials cross origins');
    });

    test('a gated repository (401) says to set HF_TOKEN', async () => {
      server.faults.status = 401;
      await assert.rejects(download(), failsWith('OFFLINE', /refused acme\/tiny\/config\.json \(HTTP 401\).*gated or private.*HF_TOKEN/));
    });

    test('a dtype the repository lacks is NOT_FOUND naming the file', async () => {
      await assert.rejects(
        downloadHubModel(ID, 'fp16', { cacheDir: tempDir('net'), allowRemote: true }),
        failsWith('NOT_FOUND', /acme\/tiny\/onnx\/model_fp16\.onnx is not on the Hub \(404/),
      );
    });

    test('an unreachable host is OFFLINE naming it', async () => {
      process.env.HF_ENDPOINT = 'http://127.0.0.1:9/';
      await assert.rejects(download(), failsWith('OFFLINE', /cannot download acme\/tiny\/config\.json from 127\.0\.0\.1:9 \(.*ECONNREFUSED/));
    });
  });

  describe('hostile repositories', () => {
    /** A copy of the fixture whose graph gains a Constant with its value in external data at `location`. */
    async function withConstant(location: string, edit: (dir: string) => void = () => {}) {
      const dir = fixture({ style: 'torch', dtype: 'q4', externalData: true }).dir;
      const graphPath = path.join(dir, 'onnx', 'model_q4.onnx');
      const m = decodeModel(readFileSync(graphPath));
      const t = f32Tensor('cv', [2], [1, 2]);
      t.rawData = null;
      t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      t.externalData = [{ key: 'location', value: location }, { key: 'offset', value: '0' }, { key: 'length', value: '8' }];
      // Inside an If's branch: the walk must reach subgraphs, not only the top-level initializers.
      const branch = { name: 'then', node: [{ ...node('Constant', [], ['c_out'], 'c0'), attribute: [{ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t }] }], output: [valueInfo('c_out', DataType.FLOAT, [2])] };
      m.graph!.node!.push({ ...node('If', ['cond'], ['if_out'], 'if0'), attribute: [{ name: 'then_branch', type: onnx.AttributeProto.AttributeType.GRAPH, g: branch }, { name: 'else_branch', type: onnx.AttributeProto.AttributeType.GRAPH, g: branch }] });
      writeFileSync(graphPath, encodeModel(m));
      edit(dir);
      return startHub(dir, ID);
    }

    test('external data named by a tensor in a subgraph is downloaded with the rest', async () => {
      const hub = await withConstant('const.bin', (dir) => writeFileSync(path.join(dir, 'onnx', 'const.bin'), Buffer.from(new Float32Array([1, 2]).buffer)));
      try {
        process.env.HF_ENDPOINT = hub.hub;
        const cacheDir = tempDir('net');
        await download(cacheDir);
        assert.deepEqual(readdirSync(path.join(snapshotIn(cacheDir), 'onnx')).sort(), ['const.bin', 'model_q4.onnx', 'model_q4.onnx_data']);
      } finally {
        await hub.close();
      }
    });

    test("a graph naming external data outside its folder is MODEL_INVALID before that file is asked for, and no ref names the snapshot", async () => {
      const hub = await withConstant('../../secret.bin');
      try {
        process.env.HF_ENDPOINT = hub.hub;
        const cacheDir = tempDir('net');
        await assert.rejects(download(cacheDir), failsWith('MODEL_INVALID', /onnx\/model_q4\.onnx names external data '\.\.\/\.\.\/secret\.bin', which climbs out of the model folder with '\.\.'; refusing to download it/));
        assert.ok(!hub.seen.some((x) => x.url.includes('secret')), 'the file was never requested');
        assert.ok(!leftIn(cacheDir).some((f) => f.startsWith('refs')));
      } finally {
        await hub.close();
      }
    });
  });

  describe('integrity', () => {
    test("an LFS file that does not match the Hub's X-Linked-Etag is INTEGRITY (expected vs got sha256) and is deleted", async () => {
      server.faults.tamper = DATA;
      const cacheDir = tempDir('net');
      await assert.rejects(download(cacheDir), failsWith('INTEGRITY', /onnx\/model_q4\.onnx_data does not match the Hub: expected sha256 [0-9a-f]{64}, got [0-9a-f]{64}; the download was deleted/));
      assertNothingHalfWritten(cacheDir, DATA);
    });

    test('a git file that does not match its ETag (the git blob sha1) is INTEGRITY', async () => {
      server.faults.tamper = 'tokenizer.json';
      const cacheDir = tempDir('net');
      await assert.rejects(download(cacheDir), failsWith('INTEGRITY', /tokenizer\.json does not match the Hub: expected git blob sha1 [0-9a-f]{40}, got [0-9a-f]{40}/));
      assertNothingHalfWritten(cacheDir, 'tokenizer.json');
    });

    test('a file longer than X-Linked-Size is INTEGRITY on its size', async () => {
      server.faults.extra = DATA;
      const cacheDir = tempDir('net');
      const size = readFileSync(path.join(fx.dir, DATA)).length;
      await assert.rejects(download(cacheDir), failsWith('INTEGRITY', new RegExp(`expected size ${size}, got ${size + 1}`)));
      assertNothingHalfWritten(cacheDir, DATA);
    });

    test("a mirror that declares no hashes still downloads, and a CDN's own ETag is not taken for the Hub's hash", async () => {
      server.faults.bare = true;
      const cacheDir = tempDir('net');
      await download(cacheDir);
      assert.ok(sameAsFixture(cacheDir, DATA));
    });
  });

  describe('resume and clean-up', () => {
    test('a transfer cut mid-file continues with a Range request from the bytes on disk, is verified, and progress stays monotonic', async () => {
      server.faults.cut = { file: DATA, after: 60_000, times: 1 };
      const cacheDir = tempDir('net');
      const fractions: number[] = [];
      await download(cacheDir, { onProgress: (_m, f) => f !== undefined && fractions.push(f) });
      assert.ok(sameAsFixture(cacheDir, DATA));
      const gets = server.seen.filter((s) => s.server === 'cdn' && s.url.includes('onnx_data'));
      assert.equal(gets.length, 2);
      assert.equal(gets[0].headers.range, undefined);
      const from = Number(/^bytes=(\d+)-$/.exec(gets[1].headers.range ?? '')?.[1]);
      assert.ok(from > 0 && from <= 60_000, `resumed from byte ${from}`);
      fractions.reduce((prev, f) => (assert.ok(f >= prev, `progress went back: ${fractions}`), f));
      assert.equal(fractions.at(-1), 1);
    });

    test('a server that ignores Range (answers 200) restarts the file from zero and still ends correct', async () => {
      server.faults.cut = { file: DATA, after: 60_000, times: 1 };
      server.faults.ignoreRange = true;
      const cacheDir = tempDir('net');
      await download(cacheDir);
      assert.ok(sameAsFixture(cacheDir, DATA));
      assert.ok(!leftIn(cacheDir).some((f) => f.includes('.part')));
    });

    test(`a transfer cut every time fails OFFLINE after ${ATTEMPTS} tries with nothing half-written; the next run completes`, async () => {
      server.faults.cut = { file: DATA, after: 60_000, times: ATTEMPTS };
      const cacheDir = tempDir('net');
      await assert.rejects(download(cacheDir), failsWith('OFFLINE', new RegExp(`cannot download ${ID}/${DATA} from .*tried ${ATTEMPTS} times`)));
      assert.equal(server.seen.filter((s) => s.server === 'cdn' && s.url.includes('onnx_data')).length, ATTEMPTS);
      assertNothingHalfWritten(cacheDir, DATA);
      await download(cacheDir);
      assert.ok(sameAsFixture(cacheDir, DATA));
      assert.equal(refOf(cacheDir), server.commit);
    });

    /** Downloads, cancelling at the first progress message that contains `when`; resolves to the ms from abort to rejection. */
    async function cancelAt(when: string, cacheDir = tempDir('net')): Promise<number> {
      const ctl = new AbortController();
      let abortedAt = 0;
      const onProgress = (m: string) => {
        if (!abortedAt && m.includes(when)) {
          abortedAt = Date.now();
          ctl.abort();
        }
      };
      await assert.rejects(download(cacheDir, { signal: ctl.signal, onProgress }), failsWith('CANCELLED', /download cancelled/));
      return Date.now() - abortedAt;
    }

    test('cancelling mid-transfer is CANCELLED within a moment and leaves no partial files', async () => {
      server.faults.trickle = 256;
      const cacheDir = tempDir('net');
      const ms = await cancelAt('tokenizer.json', cacheDir);
      assert.ok(ms < 1000, `took ${ms} ms`);
      assertNothingHalfWritten(cacheDir, 'tokenizer.json');
    });

    test('cancelling while waiting to retry is CANCELLED at once, and no retry follows', async () => {
      server.faults.cut = { file: 'config.json', after: 100, times: ATTEMPTS };
      const ms = await cancelAt('retrying');
      assert.ok(ms < 1000, `took ${ms} ms`);
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(server.seen.length, 1, 'only the first, cut attempt reached the Hub');
    });

    test("a dead process's part file is removed; a live process's is left alone", async () => {
      const cacheDir = tempDir('net');
      const dir = path.join(repoFolder(cacheDir, ID), 'blobs');
      mkdirSync(dir, { recursive: true });
      const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
      const orphan = path.join(dir, `tokenizer.json.part-${dead}-0000`);
      const live = path.join(dir, `tokenizer.json.part-${process.ppid}-0000`);
      writeFileSync(orphan, 'half');
      writeFileSync(live, 'half');
      await download(cacheDir);
      assert.ok(!existsSync(orphan));
      assert.ok(existsSync(live));
      assert.ok(sameAsFixture(cacheDir, 'tokenizer.json'));
    });

    test('two processes downloading the same model into the same cache at once both end with a correct model', async () => {
      // Both are held at the external data until both have asked for it, then served side by side.
      server.faults.gate = { file: DATA, count: 2 };
      server.faults.trickle = 4096;
      const cacheDir = tempDir('net');
      const child = () =>
        new Promise<{ code: number | null; out: string }>((resolve) => {
          const code = `require('./src/engine/model/hub.ts').downloadHubModel(${JSON.stringify(ID)}, 'q4', { cacheDir: process.env.CACHE, allowRemote: true }).then(() => process.exit(0), (e) => { console.error(e.code, e.message); process.exit(1); });`;
          const p = spawn(process.execPath, ['--import', 'tsx', '-e', code], { cwd: REPO, env: { ...process.env, CACHE: cacheDir }, stdio: ['ignore', 'pipe', 'pipe'] });
          let out = '';
          p.stdout.on('data', (d) => (out += d));
          p.stderr.on('data', (d) => (out += d));
          p.on('exit', (c) => resolve({ code: c, out }));
        });
      const results = await Promise.all([child(), child()]);
      for (const r of results) assert.equal(r.code, 0, r.out);
      assert.equal(server.seen.filter((s) => s.server === 'cdn' && s.url.includes('onnx_data')).length, 2, 'both downloaded it');
      for (const f of ['config.json', 'tokenizer.json', 'onnx/model_q4.onnx', DATA]) assert.ok(sameAsFixture(cacheDir, f), f);
      assert.equal(refOf(cacheDir), server.commit);
      assert.ok(!leftIn(cacheDir).some((f) => f.includes('.part')));
    });
  });
});
