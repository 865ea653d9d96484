// Hub downloads against a local HTTP server on loopback that serves a fixture model in the Hub's
// URL layout ({host}/{owner}/{name}/resolve/{revision}/{file}); the real Hub is not reachable here.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { env } from '@huggingface/transformers';
import { EngineError } from '../../../src/engine/model/errors';
import { downloadHubModel, hubDir } from '../../../src/engine/model/hub';
import { resolveModel } from '../../../src/engine/model/source';
import { fixture } from '../../support/fixtures';
import { tempDir } from '../../support/paths';

describe('Hub download from a loopback server', () => {
  const fx = fixture({ style: 'torch', dtype: 'q4', externalData: true });
  const requests: string[] = [];
  let slow = false;
  const server = http.createServer((req, res) => {
    requests.push(req.url!);
    const m = /^\/acme\/tiny\/resolve\/main\/(.+)$/.exec(req.url!);
    const file = m && path.join(fx.dir, decodeURIComponent(m[1]));
    if (!file || !existsSync(file)) {
      res.writeHead(404).end('not found');
      return;
    }
    const body = readFileSync(file);
    res.writeHead(200, { 'content-length': body.length });
    if (!slow) {
      res.end(body);
      return;
    }
    // Trickle the body so a test can cancel mid-transfer.
    let at = 0;
    const timer = setInterval(() => {
      if (at >= body.length || res.destroyed) {
        clearInterval(timer);
        res.end();
        return;
      }
      res.write(body.subarray(at, at + 256));
      at += 256;
    }, 5);
  });
  const saved = env.remoteHost;

  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    env.remoteHost = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  after(() => {
    env.remoteHost = saved;
    server.close();
  });

  test('downloads config, tokenizer, the dtype graph and the external data it names, with monotonic progress', async () => {
    const cacheDir = tempDir('hub');
    const fractions: number[] = [];
    const files = await resolveModel({ model: 'acme/tiny', dtype: 'q4', cacheDir, allowRemote: true, onProgress: (_m, f) => f !== undefined && fractions.push(f) });
    assert.equal(files.source, 'hub');
    assert.equal(files.dir, hubDir(cacheDir, 'acme/tiny'));
    assert.deepEqual(readdirSync(path.join(files.dir, 'onnx')).sort(), ['model_q4.onnx', 'model_q4.onnx_data']);
    assert.equal(statSync(path.join(files.dir, 'onnx', 'model_q4.onnx_data')).size, statSync(path.join(fx.dir, 'onnx', 'model_q4.onnx_data')).size);
    assert.ok(fractions.length > 1 && fractions.at(-1) === 1);
    fractions.reduce((prev, f) => (assert.ok(f >= prev, 'progress never goes back'), f));
    // A second resolve is served from the cache without touching the network.
    const before = requests.length;
    await resolveModel({ model: 'acme/tiny', dtype: 'q4', cacheDir, allowRemote: false });
    assert.equal(requests.length, before);
  });

  test('a dtype the repository lacks is NOT_FOUND naming the file', async () => {
    await assert.rejects(
      downloadHubModel('acme/tiny', 'fp16', { cacheDir: tempDir('hub'), allowRemote: true }),
      (e: unknown) => e instanceof EngineError && e.code === 'NOT_FOUND' && /has no onnx\/model_fp16\.onnx/.test(e.message),
    );
  });

  test('an unreachable host is OFFLINE', async () => {
    const saved2 = env.remoteHost;
    env.remoteHost = 'http://127.0.0.1:9/';
    try {
      await assert.rejects(
        downloadHubModel('acme/tiny', 'q4', { cacheDir: tempDir('hub'), allowRemote: true }),
        (e: unknown) => e instanceof EngineError && e.code === 'OFFLINE' && /cannot reach 127\.0\.0\.1:9/.test(e.message),
      );
    } finally {
      env.remoteHost = saved2;
    }
  });

  test('cancelling mid-download leaves no partial files', async () => {
    slow = true;
    const cacheDir = tempDir('hub');
    const ctl = new AbortController();
    const p = downloadHubModel('acme/tiny', 'q4', {
      cacheDir,
      allowRemote: true,
      signal: ctl.signal,
      onProgress: (m) => m.includes('tokenizer.json') && ctl.abort(),
    });
    await assert.rejects(p, (e: unknown) => e instanceof EngineError && e.code === 'CANCELLED');
    slow = false;
    const dir = hubDir(cacheDir, 'acme/tiny');
    const left = existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String) : [];
    assert.ok(!left.some((f) => f.includes('.part')), `partial files left: ${left}`);
    assert.ok(!left.includes('tokenizer.json'));
    assert.ok(!left.some((f) => f.startsWith('.complete')));
  });
});
