// The engine's protocol server in-process, over a transport that clones every message the way Node
// IPC's 'advanced' serialization does. The same server over a real child process is tested in
// test/host/engineClient.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CallContext, Handlers, serve, toRpcError } from '../../src/engine/server';
import { EngineError } from '../../src/engine/model/errors';
import type { EngineToHost, RpcError } from '../../src/protocol';

type Handler = (params: never, ctx: CallContext) => Promise<unknown>;

function harness(partial: Record<string, Handler>) {
  const sent: EngineToHost[] = [];
  const waiters: (() => void)[] = [];
  let listener: (m: unknown) => void = () => {};
  const notImplemented = async () => {
    throw new EngineError('INTERNAL', 'not in this test');
  };
  const handlers = new Proxy(partial, { get: (t, k: string) => t[k] ?? notImplemented }) as unknown as Handlers;
  serve(handlers, {
    send: (m) => {
      sent.push(structuredClone(m));
      waiters.splice(0).forEach((w) => w());
    },
    onMessage: (l) => (listener = l),
  });
  let nextId = 1;
  const deliver = (m: unknown) => listener(structuredClone(m));
  const until = async (pred: () => boolean) => {
    while (!pred()) await new Promise<void>((r) => waiters.push(r));
  };
  async function call(method: string, params: unknown, id = nextId++): Promise<{ result?: unknown; error?: RpcError }> {
    deliver({ kind: 'request', id, method, params });
    let response: EngineToHost | undefined;
    await until(() => !!(response = sent.find((m) => m.kind === 'response' && m.id === id)));
    return response as { result?: unknown; error?: RpcError };
  }
  return { sent, deliver, call, until };
}

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

describe('engine server', () => {
  test('an unknown method is BAD_REQUEST naming the methods the engine knows', async () => {
    const h = harness({});
    const r = await h.call('frobnicate', {});
    assert.equal(r.error?.code, 'BAD_REQUEST');
    assert.match(r.error!.message, /unknown method 'frobnicate'.*load.*generate.*shutdown/);
    assert.equal((await h.call('toString', {})).error?.code, 'BAD_REQUEST', 'inherited object keys are not methods');
  });

  test('params are validated with the method schema: BAD_REQUEST names the field; defaults are applied', async () => {
    let seen: unknown;
    const h = harness({ load: async (p) => ((seen = p), { ok: true }) });
    const bad = await h.call('generate', { input: { prompt: 'x' }, maxNewTokens: -1 });
    assert.equal(bad.error?.code, 'BAD_REQUEST');
    assert.match(bad.error!.message, /^generate: maxNewTokens: /);
    const extra = await h.call('load', { model: 'm', cacheDir: '/c', surprise: 1 });
    assert.match(extra.error!.message, /surprise/);
    const missing = await h.call('load', { model: 'm' });
    assert.match(missing.error!.message, /cacheDir/);
    await h.call('load', { model: 'm', cacheDir: '/c' });
    assert.deepEqual(seen, { model: 'm', cacheDir: '/c', dtype: 'fp32', allowRemote: true });
    assert.equal((await h.call('info', undefined)).error?.code, 'INTERNAL', 'absent params mean {} for methods without params');
  });

  test('a malformed envelope is answered when it has an id, logged otherwise', async () => {
    const h = harness({});
    h.deliver({ kind: 'request', id: 7, method: 42 });
    await h.until(() => h.sent.some((m) => m.kind === 'response'));
    const r = h.sent.find((m) => m.kind === 'response') as { error: RpcError };
    assert.equal(r.error.code, 'BAD_REQUEST');
    assert.match(r.error.message, /method/);
    h.deliver({ hello: 'world' });
    await h.until(() => h.sent.some((m) => m.kind === 'log'));
    assert.match((h.sent.find((m) => m.kind === 'log') as { message: string }).message, /ignored a malformed message/);
  });

  test('requests run concurrently; progress and token notes carry their request id', async () => {
    const h = harness({
      tokenize: async (p: { prompt: string }, ctx) => {
        ctx.progress('started');
        ctx.progress('half', 0.5);
        ctx.token(0, 11, p.prompt);
        await tick(p.prompt === 'slow' ? 60 : 1);
        return { ids: [], tokens: [], text: p.prompt };
      },
    });
    const slow = h.call('tokenize', { prompt: 'slow' }, 100);
    const fast = h.call('tokenize', { prompt: 'fast' }, 101);
    await Promise.all([slow, fast]);
    const order = h.sent.filter((m) => m.kind === 'response').map((m) => m.id);
    assert.deepEqual(order, [101, 100]);
    assert.deepEqual(
      h.sent.filter((m) => m.kind === 'progress' && m.id === 100),
      [
        { kind: 'progress', id: 100, message: 'started' },
        { kind: 'progress', id: 100, message: 'half', fraction: 0.5 },
      ],
    );
    assert.deepEqual(h.sent.find((m) => m.kind === 'token' && m.id === 101), { kind: 'token', id: 101, index: 0, tokenId: 11, text: 'fast' });
  });

  test('a cancel note aborts only its own request; an abort becomes CANCELLED however the handler fails', async () => {
    const aborted: string[] = [];
    const waitForAbort = (how: string) => async (p: { prompt: string }, ctx: CallContext) => {
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
      aborted.push(p.prompt);
      if (how === 'reason') throw ctx.signal.reason;
      throw new Error('onnxruntime: session run interrupted');
    };
    const h1 = harness({ tokenize: waitForAbort('reason') });
    const a = h1.call('tokenize', { prompt: 'a' }, 1);
    const b = h1.call('tokenize', { prompt: 'b' }, 2);
    await tick();
    h1.deliver({ kind: 'cancel', id: 99 }); // unknown ids are ignored
    h1.deliver({ kind: 'cancel', id: 1 });
    assert.equal((await a).error?.code, 'CANCELLED');
    await tick();
    assert.deepEqual(aborted, ['a'], 'the other request keeps running');
    h1.deliver({ kind: 'cancel', id: 2 });
    assert.equal((await b).error?.code, 'CANCELLED');

    const h2 = harness({ tokenize: waitForAbort('plain error') });
    const c = h2.call('tokenize', { prompt: 'c' }, 5);
    await tick();
    h2.deliver({ kind: 'cancel', id: 5 });
    assert.deepEqual((await c).error, { code: 'CANCELLED', message: 'cancelled' });
  });

  test('coded errors keep their code and detail; anything else is INTERNAL with the stack, and logged', async () => {
    const h = harness({
      load: async () => {
        throw new EngineError('MODEL_INVALID', 'no residual stream', 'layer 3: parallel block');
      },
      info: async () => {
        throw Object.assign(new Error("ENOENT: no such file or directory, open 'x'"), { code: 'ENOENT' });
      },
      doctor: async () => {
        // eslint-disable-next-line @typescript-eslint/only-throw-error -- the server must cope with non-Errors
        throw 'a string';
      },
    });
    assert.deepEqual((await h.call('load', { model: 'm', cacheDir: '/c' })).error, { code: 'MODEL_INVALID', message: 'no residual stream', detail: 'layer 3: parallel block' });
    const fsError = (await h.call('info', {})).error!;
    assert.equal(fsError.code, 'INTERNAL', 'codes that are not protocol codes do not leak through');
    assert.match(fsError.message, /ENOENT/);
    assert.match(fsError.detail!, /server\.test\.ts/);
    assert.ok(h.sent.some((m) => m.kind === 'log' && m.level === 'error' && m.message.startsWith('info failed: Error: ENOENT')));
    assert.deepEqual((await h.call('doctor', {})).error, { code: 'INTERNAL', message: 'a string' });
  });

  test('a result that cannot cross the process boundary is an INTERNAL error, not a lost request', async () => {
    const h = harness({ tokenize: async () => ({ ids: [], tokens: [], text: '', later: () => 1 }) });
    const r = await h.call('tokenize', { prompt: 'x' });
    assert.equal(r.error?.code, 'INTERNAL');
    assert.match(r.error!.message, /could not be cloned/);
  });

  test('Float32Arrays in results arrive as Float32Arrays', async () => {
    const h = harness({ forward: async () => ({ hidden: 2, items: [{ ids: [1], tokens: ['a'], residuals: { 'resid_pre.0': Float32Array.of(1.5, -2) } }] }) });
    const r = (await h.call('forward', { inputs: [{ prompt: 'x' }] })) as { result: { items: { residuals: Record<string, Float32Array> }[] } };
    const v = r.result.items[0].residuals['resid_pre.0'];
    assert.ok(v instanceof Float32Array);
    assert.deepEqual(Array.from(v), [1.5, -2]);
  });

  test('toRpcError: AbortError by name, protocol codes only', () => {
    assert.equal(toRpcError(new DOMException('stop', 'AbortError')).code, 'CANCELLED');
    assert.equal(toRpcError(new EngineError('OFFLINE', 'no network')).code, 'OFFLINE');
    assert.equal(toRpcError({ code: 'NOT_A_CODE', message: 'm' }).code, 'INTERNAL');
    assert.equal(toRpcError(null).message, 'null');
  });
});
