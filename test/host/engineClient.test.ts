// The host's engine client against real child processes: a controllable test engine for the
// protocol's edge cases, and the real engine on a fixture model. Crashes, kills, hangs and running
// out of memory are in test/faults/engineFaults.test.ts.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { writeOrganism } from '../../src/modelgen/organism2';
import { fixture } from '../support/fixtures';
import { rejectsWith, TEST_ENGINE, testClient } from '../support/engineClients';
import { tempDir } from '../support/paths';

describe('engine client with the protocol test engine', () => {
  const { c, states, logs } = testClient(TEST_ENGINE);
  after(() => c.dispose());

  test('a request resolves with progress, and typed arrays survive IPC', async () => {
    const progress: number[] = [];
    const info = await c.request('load', { model: 'm', cacheDir: '/tmp' }, { onProgress: (n) => progress.push(n.fraction ?? -1) });
    assert.equal(info.model, 'm');
    assert.deepEqual(progress, [0.5]);
    const f = await c.request('forward', { inputs: [{ prompt: 'hi' }] });
    assert.ok(f.items[0].residuals['resid_pre.0'] instanceof Float32Array);
    assert.deepEqual(Array.from(f.items[0].residuals['resid_pre.0']), [0.5, -1.25]);
    assert.ok(states.includes('busy') && states.at(-1) === 'ready');
  });

  test('invalid params are BAD_REQUEST naming the field', async () => {
    await rejectsWith(c.request('generate', { input: { prompt: 'x' }, maxNewTokens: -3 } as never), 'BAD_REQUEST', /maxNewTokens/);
    await rejectsWith(c.request('load', { model: '', cacheDir: '/tmp' }), 'BAD_REQUEST', /model/);
  });

  test('coded engine errors keep their code; unexpected ones are INTERNAL with the stack as detail', async () => {
    await rejectsWith(c.request('load', { model: 'missing', cacheDir: '/tmp' }), 'NOT_FOUND', /no such model/);
    const e = await rejectsWith(c.request('doctor', {}), 'INTERNAL', /boom/);
    assert.match(e.detail ?? '', /testEngine\.ts/);
    assert.ok(logs.some((l) => l.includes('doctor failed')));
  });

  test('tokens stream, and cancellation stops a generation promptly', async () => {
    const ctl = new AbortController();
    const tokens: string[] = [];
    const started = Date.now();
    const result = await c.request('generate', { input: { prompt: 'x' }, maxNewTokens: 1000 }, {
      signal: ctl.signal,
      onToken: (n) => {
        tokens.push(n.text);
        if (n.index === 2) ctl.abort();
      },
    });
    assert.equal(result.stopReason, 'cancelled');
    assert.deepEqual(tokens.slice(0, 3), ['t0 ', 't1 ', 't2 ']);
    assert.ok(Date.now() - started < 2000);
  });

  test('a cancelled request that throws the abort rejects with CANCELLED promptly', async () => {
    const ctl = new AbortController();
    const started = Date.now();
    const waiting = c.request('tokenize', { prompt: 'wait' }, { signal: ctl.signal });
    setTimeout(() => ctl.abort(), 50);
    await rejectsWith(waiting, 'CANCELLED');
    assert.ok(Date.now() - started < 1000, `took ${Date.now() - started} ms`);
    await rejectsWith(c.request('tokenize', { prompt: 'x' }, { signal: ctl.signal }), 'CANCELLED', /cancelled/);
    assert.equal(c.state, 'ready');
  });

  test('stop() cancels pending requests instead of reporting a crash; dispose() refuses later requests', async () => {
    const { c: d, states: ds } = testClient(TEST_ENGINE);
    await d.request('load', { model: 'm', cacheDir: '/tmp' });
    const pid = d.pid!;
    const pending = d.request('tokenize', { prompt: 'wait' });
    await d.stop();
    await rejectsWith(pending, 'CANCELLED', /stopped during 'tokenize'/);
    assert.equal(d.state, 'stopped');
    assert.throws(() => process.kill(pid, 0), 'the process is gone');
    await d.dispose();
    await rejectsWith(d.request('tokenize', { prompt: 'x' }), 'CANCELLED', /disposed/);
    assert.ok(!ds.includes('crashed'));
  });
});

describe('engine client with the real engine process on a fixture model', () => {
  const { c } = testClient();
  after(() => c.dispose());

  test('load, forward with residuals, streamed generation', async () => {
    const fx = fixture({ style: 'torch', dtype: 'fp32' });
    const info = await c.request('load', { model: fx.dir, cacheDir: tempDir('engine') });
    assert.equal(info.layers, 4);
    assert.equal(info.residualHooks, 9);
    const f = await c.request('forward', { inputs: [{ prompt: 'how to make a cake ?' }], hooks: ['resid_pre.2'] });
    assert.equal(f.items[0].residuals['resid_pre.2'].length, f.items[0].ids.length * 64);
    const streamed: string[] = [];
    const g = await c.request('generate', { input: { prompt: 'write a poem' }, maxNewTokens: 5 }, { onToken: (n) => streamed.push(n.text) });
    assert.equal(streamed.join(''), g.text);
    await rejectsWith(c.request('forward', { inputs: [{ prompt: 'x' }], hooks: ['resid_pre.9'] }), 'BAD_REQUEST', /layers 0\.\.3/);
  });
});

describe('direction methods through the real engine process', () => {
  const { c } = testClient();
  after(() => c.dispose());

  test('extract, score and a streamed evaluation on the organism', async () => {
    const dir = path.join(tempDir('engine-org'), 'organism');
    const { organism } = writeOrganism(dir, { seed: 7 });
    await c.request('load', { model: dir, cacheDir: tempDir('engine-org-cache') });
    const progress: string[] = [];
    const ex = await c.request('extract', { harmful: organism.prompts.harmful_train, harmless: organism.prompts.harmless_train }, { onProgress: (n) => progress.push(n.message) });
    assert.ok(ex.selected && ex.vector);
    assert.ok(ex.meanDiffs[0][0] instanceof Float64Array);
    assert.ok(progress.some((m) => m.startsWith('Scoring candidate')));
    const direction = { vector: ex.vector!, layer: ex.selected!.layer };
    const sc = await c.request('score', { prompt: organism.prompts.harmful_test[0], direction });
    assert.ok(organism.groundTruth('aligned').triggers.includes(sc.triggers[0].token));
    const streamed = new Map<number, string>();
    const ev = await c.request('evaluate', { prompts: organism.prompts.harmful_test.slice(0, 2), direction, maxNewTokens: 8 }, { onToken: (n) => streamed.set(n.index, (streamed.get(n.index) ?? '') + n.text) });
    assert.equal(ev.refusal_rate.baseline, 1);
    assert.equal(ev.refusal_rate.ablation, 0);
    assert.equal(streamed.get(0), ev.results[0].completions.baseline!.text);
    assert.equal(streamed.get(1), ev.results[0].completions.ablation!.text);
    await rejectsWith(c.request('score', { prompt: 'x', direction: { vector: [1, 2], layer: 0 } }), 'BAD_REQUEST', /the direction has 2 values, the model's hidden size is 64/);
  });
});
