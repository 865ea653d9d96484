// Execution providers on a machine without a GPU: cpu runs as asked; a provider this onnxruntime-node
// build lacks (dml and coreml off Windows and macOS) and one it has whose libraries do not load (cuda
// without CUDA here) both fall back to CPU with a message naming the provider, the platform and the
// fix, and the model then computes exactly what it computes on CPU; doctor compares on the provider
// in use; the CLI takes --provider and refuses an unknown one.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { Engine } from '../../../src/engine/engine';
import { builtProviders } from '../../../src/engine/runtime/providers';
import { LoadParams, type Provider } from '../../../src/protocol';
import { fixture } from '../../support/fixtures';
import { REPO, tempDir } from '../../support/paths';

const NOT_BUILT = ({ linux: ['dml', 'coreml'], win32: ['coreml'], darwin: ['cuda', 'dml'] } as Record<string, Provider[]>)[process.platform] ?? [];

describe('execution providers', () => {
  const fx = fixture({ style: 'torch', dtype: 'fp32' });
  const cacheDir = tempDir('providers');
  const engines: Engine[] = [];
  after(async () => {
    for (const e of engines) await e.dispose();
  });
  const load = async (provider?: Provider) => {
    const e = await Engine.load(LoadParams.parse({ model: fx.dir, cacheDir, allowRemote: false, ...(provider ? { provider } : {}) }));
    engines.push(e);
    return e;
  };
  const logits = async (e: Engine) => [...(await e.forward({ inputs: [{ prompt: 'the sea and the sky', chat: false }], hooks: [], logits: 'last' })).items[0].logits!];

  test('cpu is the default and says nothing', async () => {
    const e = await load();
    assert.equal(e.info.provider, 'cpu');
    assert.equal(e.info.providerFallback, undefined);
    const doctor = await e.doctor({});
    assert.equal(doctor.provider, 'cpu');
    assert.ok(doctor.ok);
  });

  for (const provider of NOT_BUILT) {
    test(`${provider} is not in onnxruntime-node for ${process.platform}: CPU, saying so, with the same logits`, async () => {
      assert.ok(!builtProviders().includes(provider), `this build lists ${builtProviders()}`);
      const [cpu, asked] = [await load('cpu'), await load(provider)];
      assert.equal(asked.info.provider, 'cpu');
      assert.equal(asked.info.providerFallback, `the ${provider} execution provider is not in onnxruntime-node for ${process.platform}-${process.arch} (it has ${builtProviders().join(', ')}); running on CPU`);
      assert.deepEqual(await logits(asked), await logits(cpu));
      assert.equal((await asked.doctor({})).provider, 'cpu');
    });
  }

  test('cuda where its libraries do not load: CPU, with the loader error and what cuda needs (a GPU machine runs on cuda instead)', async (t) => {
    if (!builtProviders().includes('cuda')) return t.skip(`onnxruntime-node for ${process.platform} has no cuda provider`);
    const e = await load('cuda');
    if (e.info.provider === 'cuda') {
      assert.equal(e.info.providerFallback, undefined);
      const doctor = await e.doctor({});
      assert.ok(doctor.ok && doctor.provider === 'cuda', `doctor on cuda: ${doctor.max_abs_diff}`);
      return;
    }
    assert.equal(e.info.provider, 'cpu');
    assert.match(e.info.providerFallback ?? '', /^the cuda execution provider did not start on linux-x64 \(.*(shared library|\.so).*\); it needs an NVIDIA driver, CUDA 12 and cuDNN 9 .*ONNXRUNTIME_NODE_INSTALL=cuda12\); running on CPU$/);
    assert.ok((await e.doctor({})).ok);
  });

  test('the CLI: --provider reaches doctor, which prints the provider and the fallback warning; an unknown provider is a usage error', () => {
    const cli = (...args: string[]) => spawnSync(process.execPath, [path.join(REPO, 'bin', 'refusal-lens.js'), ...args], { encoding: 'utf8', env: { ...process.env, REFUSAL_LENS_CACHE: cacheDir } });
    const asked = NOT_BUILT[0] ?? 'cpu';
    const r = cli('doctor', '--model', fx.dir, '--provider', asked);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^provider {7}cpu$/m);
    if (asked !== 'cpu') assert.match(r.stderr, new RegExp(`warning: the ${asked} execution provider is not in onnxruntime-node`));
    const bad = cli('doctor', '--model', fx.dir, '--provider', 'gpu');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--provider must be one of cpu, cuda, dml, coreml, got 'gpu'/);
  });
});
