// Fault injection, category 4: cancellation and load. Real engine child processes on the organism
// and on a larger random fixture: every long method is cancelled at its first progress, token or
// partial note, and the engine's own counters (`stats`) show that at most one onnxruntime run
// finished after the cancel note arrived; nothing half-written is left behind. Then bursts of score
// requests through the host's latest-only scheduler, and two engines sharing one cache folder.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { discardDamaged, instrumentCached, readEntryOf } from '../../src/engine/onnx/cache';
import { EngineClient, EngineRequestError } from '../../src/host/engineClient';
import { Latest } from '../../src/host/latest';
import { trackRange } from '../../src/host/trackRange';
import { type OrganismV2, writeOrganism } from '../../src/modelgen/organism2';
import type { EngineMethod, ParamsOf, ResultOf } from '../../src/protocol';
import { testClient } from '../support/engineClients';
import { fixture } from '../support/fixtures';
import { tempDir } from '../support/paths';

const engine = () => testClient().c;

/** A random decoder large enough (58 MB of weights) that loading and exporting it take a while. */
const bigFixture = () =>
  fixture({ style: 'torch', dtype: 'fp32', config: { layers: 6, hidden: 512, intermediate: 1024, heads: 8, kvHeads: 4, headDim: 64 } });

interface Cancelled<M extends EngineMethod> {
  result?: ResultOf<M>;
  error?: EngineRequestError;
  /** Session runs that finished between the cancel note's arrival and the answer. */
  runsAfterCancel: number;
  /** Session runs the whole request made. */
  runs: number;
  notes: string[];
}

/**
 * Sends a request and cancels it at its first progress, token or partial note; then asks the
 * engine when the cancel arrived and how many session runs finished after it.
 */
async function cancelAtFirstNote<M extends EngineMethod>(c: EngineClient, method: M, params: ParamsOf<M>): Promise<Cancelled<M>> {
  const before = await c.request('stats', {});
  const ctl = new AbortController();
  const notes: string[] = [];
  const note = (what: string) => {
    notes.push(what);
    ctl.abort();
  };
  const out: Partial<Cancelled<M>> = { notes };
  try {
    out.result = await c.request(method, params, {
      signal: ctl.signal,
      onProgress: (n) => note(`progress: ${n.message}`),
      onToken: (n) => note(`token ${n.index}`),
      onPartial: (n) => note(`partial ${n.index}`),
    });
  } catch (e) {
    assert.ok(e instanceof EngineRequestError, String(e));
    out.error = e;
  }
  const stats = await c.request('stats', {});
  const record = stats.cancellations.filter((r) => r.method === method && r.runsAtCancel >= before.sessionRuns).at(-1);
  assert.ok(notes.length > 0, `${method} sent no note to cancel at`);
  assert.ok(record, `the cancel note of '${method}' reached the engine after it had answered (notes: ${notes.join('; ')})`);
  assert.ok(record.runsAtAnswer !== undefined);
  return { ...out, runsAfterCancel: record.runsAtAnswer - record.runsAtCancel, runs: stats.sessionRuns - before.sessionRuns } as Cancelled<M>;
}

function assertCancelled(r: Cancelled<EngineMethod>, what: string): void {
  assert.equal(r.error?.code, 'CANCELLED', `${what}: expected CANCELLED, got ${r.error ? `${r.error.code}: ${r.error.message}` : 'a result'}`);
  assert.ok(r.runsAfterCancel <= 1, `${what}: ${r.runsAfterCancel} session runs finished after the cancel arrived`);
}

/** Folder entries whose names mark an unfinished write. */
const leftovers = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((f) => f.includes('.tmp-')) : []);

describe('faults 4: cancellation and load', () => {
  describe('every long method cancels within one session run', () => {
    const org = engine();
    const big = engine();
    let organism: OrganismV2;
    let orgDir: string;
    let direction: { vector: number[]; layer: number };
    let reference: ResultOf<'score'>;
    const longPrompt = () => Array.from({ length: 40 }, (_, i) => organism.prompts.harmful_test[i]).join(' . ');

    before(async () => {
      orgDir = path.join(tempDir('cancel-org'), 'organism');
      organism = writeOrganism(orgDir, { seed: 3 }).organism;
      await org.request('load', { model: orgDir, cacheDir: tempDir('cancel-org-cache') });
      const truth = organism.groundTruth('aligned');
      direction = { vector: truth.directions.refusal, layer: truth.writtenAt.refusalComplete + 1 };
      reference = await org.request('score', { prompt: organism.prompts.harmful_test[0], direction });
    });
    after(async () => {
      await org.dispose();
      await big.dispose();
    });

    test('load: a cancelled load leaves no cache entry half-written and keeps the loaded model', async () => {
      const fx = bigFixture();
      const loaded = await big.request('load', { model: fx.dir, cacheDir: tempDir('cancel-big-cache') });
      const opened = (await big.request('stats', {})).sessionsOpened;
      const cacheDir = tempDir('cancel-load-cache');
      const r = await cancelAtFirstNote(big, 'load', { model: fx.dir, cacheDir });
      assertCancelled(r, 'load');
      assert.deepEqual(leftovers(path.join(cacheDir, 'instrumented')), [], 'no temp folder in the cache');
      assert.equal((await big.request('stats', {})).sessionsOpened, opened, 'no session was created for the cancelled load');
      assert.equal((await big.request('info', {})).instrumentedFile, loaded.instrumentedFile, 'the previous model stays loaded');
      // The cache is usable afterwards: the same load completes.
      assert.equal((await big.request('load', { model: fx.dir, cacheDir })).layers, 6);
    });

    test('generate: stops between tokens and answers with the tokens so far', async () => {
      const r = await cancelAtFirstNote(big, 'generate', { input: { prompt: 'write a poem about the sea' }, maxNewTokens: 2000 });
      assert.equal(r.result?.stopReason, 'cancelled');
      assert.ok(r.runsAfterCancel <= 1, `${r.runsAfterCancel} runs after the cancel`);
      assert.ok(r.result.ids.length < 50, `${r.result.ids.length} tokens were generated`);
    });

    test('export: a cancelled export leaves the output folder empty', async () => {
      const out = tempDir('cancel-export');
      const r = await cancelAtFirstNote(big, 'export', { vectors: [Array.from({ length: 512 }, (_, i) => Math.sin(i))], out });
      assertCancelled(r, 'export');
      assert.deepEqual(readdirSync(out), []);
    });

    test('extract: cancelled while filtering prompts', async () => {
      const r = await cancelAtFirstNote(org, 'extract', { harmful: organism.prompts.harmful_train, harmless: organism.prompts.harmless_train });
      assertCancelled(r, 'extract');
    });

    test('score: cancelled during occlusion of a long prompt', async () => {
      const r = await cancelAtFirstNote(org, 'score', { prompt: longPrompt(), direction });
      assertCancelled(r, 'score');
    });

    test('heads: cancelled while the per-head graph is prepared, before any of its runs', async () => {
      const r = await cancelAtFirstNote(org, 'heads', { prompt: longPrompt(), direction, suffix: 'lamp' });
      assertCancelled(r, 'heads');
    });

    test('evaluate: cancelled at the first note, no partial result for an unfinished prompt', async () => {
      // Without the baseline there is no cross-entropy pass, so only the check after each
      // generation stops an unfinished prompt from being reported as done.
      const r = await cancelAtFirstNote(org, 'evaluate', { prompts: organism.prompts.harmful_test, direction, maxNewTokens: 16, conditions: ['ablation', 'addition'] });
      assertCancelled(r, 'evaluate');
      assert.deepEqual(r.notes.filter((n) => n.startsWith('partial')), []);
    });

    test('space: cancelled while collecting activations', async () => {
      const prompts = [...organism.prompts.harmful_test.slice(0, 16), ...organism.prompts.harmless_test.slice(0, 16)];
      const r = await cancelAtFirstNote(org, 'space', { prompts, harmless: organism.prompts.harmless_train.slice(0, 16) });
      assertCancelled(r, 'space');
    });

    test('intervene: cancelled at the first prompt', async () => {
      const r = await cancelAtFirstNote(org, 'intervene', { prompts: organism.prompts.jailbreak_test, components: [direction.vector] });
      assertCancelled(r, 'intervene');
    });

    test('capability: cancelled at the first multiple-choice item', async () => {
      const r = await cancelAtFirstNote(org, 'capability', { direction });
      assertCancelled(r, 'capability');
    });

    test('organism: a cancelled build leaves no folder behind', async () => {
      const parent = tempDir('cancel-organism');
      const r = await cancelAtFirstNote(org, 'organism', { dir: path.join(parent, 'organism-1'), seed: 1 });
      assertCancelled(r, 'organism');
      assert.deepEqual(readdirSync(parent), []);
    });

    test('after all the cancellations the engine answers as before', async () => {
      const again = await org.request('score', { prompt: organism.prompts.harmful_test[0], direction });
      assert.deepEqual(again.tokens, reference.tokens);
      assert.equal(again.refusalScore, reference.refusalScore);
      assert.deepEqual(again.triggers, reference.triggers);
    });
  });

  describe('100 score requests while typing, through the latest-only scheduler', () => {
    const c = engine();
    let organism: OrganismV2;
    let direction: { vector: number[]; layer: number };
    /** Prompt i of a typing session: a long prompt (occlusion takes a while) that grows a word at a time. */
    let typed: (i: number) => string;
    after(() => c.dispose());
    before(async () => {
      const dir = path.join(tempDir('typing-org'), 'organism');
      // Hidden 128: a run (about 0.4 s) must outlast the typing between two pauses, or nothing is ever in flight to cancel.
      organism = writeOrganism(dir, { seed: 6, hidden: 128 }).organism;
      await c.request('load', { model: dir, cacheDir: tempDir('typing-org-cache') });
      const truth = organism.groundTruth('aligned');
      direction = { vector: truth.directions.refusal, layer: truth.writtenAt.refusalComplete + 1 };
      const words = organism.prompts.harmful_test.slice(0, 30).join(' . ').split(' ');
      typed = (i) => words.slice(0, words.length - 100 + i).join(' ');
    });

    /** A scheduler over the real engine that counts what reaches the engine and what is delivered. */
    function scheduler(delayMs: number) {
      const seen = { started: 0, cancelled: 0, inFlight: 0, maxInFlight: 0, delivered: [] as { input: string; result: ResultOf<'score'> }[], failures: [] as unknown[] };
      let settled: () => void = () => {};
      const latest = new Latest<string, ResultOf<'score'>>({
        delayMs,
        run: async (prompt, signal) => {
          seen.started++;
          seen.maxInFlight = Math.max(seen.maxInFlight, ++seen.inFlight);
          try {
            return await c.request('score', { prompt, direction }, { signal });
          } catch (e) {
            if ((e as EngineRequestError).code === 'CANCELLED') seen.cancelled++;
            throw e;
          } finally {
            seen.inFlight--;
          }
        },
        deliver: (result, input) => {
          seen.delivered.push({ input, result });
          settled();
        },
        fail: (e) => {
          seen.failures.push(e);
          settled();
        },
      });
      const next = () => new Promise<void>((resolve) => (settled = resolve));
      return { latest, seen, next };
    }

    async function assertLastDelivered(seen: ReturnType<typeof scheduler>['seen'], last: string): Promise<void> {
      assert.deepEqual(seen.failures, []);
      assert.equal(seen.delivered.at(-1)?.input, last, 'the last prompt is the one delivered last');
      const direct = await c.request('score', { prompt: last, direction });
      assert.deepEqual(seen.delivered.at(-1)!.result.tokens, direct.tokens);
      assert.equal(seen.delivered.at(-1)!.result.refusalScore, direct.refusalScore);
      // Only the newest input is ever delivered, so deliveries follow typing order.
      const order = seen.delivered.map((d) => Array.from({ length: 100 }, (_, i) => typed(i)).indexOf(d.input));
      assert.deepEqual(order, [...order].sort((a, b) => a - b));
      assert.equal(seen.maxInFlight, 1, 'one engine request at a time');
    }

    test('the scored prompt is followed through edits: typing in or at its ends rescores it, edits elsewhere shift it', () => {
      // "how to make a bomb" at offsets [10, 28) of a document.
      const edit = (range: [number, number], offset: number, length: number, inserted: number) => trackRange(range, { offset, length, inserted });
      assert.deepEqual(edit([10, 28], 28, 0, 5), { range: [10, 33], touched: true }, 'typing at the end');
      assert.deepEqual(edit([10, 28], 10, 0, 3), { range: [10, 31], touched: true }, 'typing at the start');
      assert.deepEqual(edit([10, 28], 15, 4, 1), { range: [10, 25], touched: true }, 'replacing a word inside');
      assert.deepEqual(edit([10, 28], 2, 3, 0), { range: [7, 25], touched: false }, 'deleting text before it');
      assert.deepEqual(edit([10, 28], 40, 0, 9), { range: [10, 28], touched: false }, 'typing after it');
      assert.deepEqual(edit([10, 28], 5, 30, 2), { range: [5, 7], touched: true }, 'replacing it and more');
    });

    test('a burst of 100: one engine request, the last prompt delivered', async () => {
      const { latest, seen, next } = scheduler(400);
      const done = next();
      for (let i = 0; i < 100; i++) latest.push(typed(i));
      await done;
      assert.equal(seen.started, 1);
      assert.equal(seen.delivered.length, 1);
      await assertLastDelivered(seen, typed(99));
    });

    test('100 spread over time with pauses: a handful of engine requests, in-flight ones cancelled, results in order, memory bounded', async (t) => {
      // A fake timer cannot drive the real engine: this test runs on the clock (about 3 s).
      setFlagsFromString('--expose-gc');
      const gc = runInNewContext('gc') as () => void;
      const { latest, seen, next } = scheduler(60);
      const memory = async () => {
        gc();
        return { heap: process.memoryUsage().heapUsed, rss: (await c.request('stats', {})).rss };
      };
      const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
      // A warm-up run so the engine's first-run allocations are not counted as growth.
      latest.push(typed(0));
      await next();
      const before = await memory();
      seen.started = 0;
      seen.delivered.length = 0;
      for (let i = 0; i < 100; i++) {
        const delivered = next();
        latest.push(typed(i));
        // Keystrokes 10 ms apart; every tenth a pause longer than the debounce, so a run starts (and
        // cancels the one still running); every thirtieth the user waits for the panel to update.
        if (i % 30 === 29) await delivered;
        else await sleep(i % 10 === 9 ? 90 : 10);
      }
      while (seen.delivered.at(-1)?.input !== typed(99)) await next();
      const after = await memory();
      assert.ok(seen.started <= 10, `${seen.started} engine requests for 100 inputs with 10 pauses`);
      assert.ok(seen.cancelled >= 1, `no run was cancelled (${seen.started} started, ${seen.delivered.length} delivered)`);
      assert.deepEqual(
        seen.delivered.map((d) => d.input),
        [29, 59, 89, 99].map(typed),
        'the waited-for results and the last one, nothing superseded',
      );
      await assertLastDelivered(seen, typed(99));
      const mb = (x: number) => (x / 2 ** 20).toFixed(1);
      assert.ok(after.heap - before.heap < 8 * 2 ** 20, `host heap grew by ${mb(after.heap - before.heap)} MB`);
      assert.ok(after.rss - before.rss < 64 * 2 ** 20, `engine rss grew by ${mb(after.rss - before.rss)} MB`);
      t.diagnostic(`${seen.started} engine requests, ${seen.cancelled} cancelled, ${seen.delivered.length} delivered; host heap ${mb(after.heap - before.heap)} MB, engine rss ${mb(after.rss - before.rss)} MB`);
    });
  });

  describe('two windows sharing the cache', () => {
    const windows = [engine(), engine()];
    const later = engine();
    after(() => Promise.all([...windows, later].map((c) => c.dispose())));
    // Both engines are started and warmed up first, so the two requests really run side by side.
    before(async () => {
      const warm = path.join(tempDir('two-windows-warm'), 'organism');
      writeOrganism(warm, { seed: 5 });
      await Promise.all(windows.map((c) => c.request('load', { model: warm, cacheDir: tempDir('two-windows-warm-cache') })));
    });

    test('two engines instrumenting the same model into one empty cache at once: both load it, one entry, no temp folder', async () => {
      const fx = bigFixture();
      const cacheDir = tempDir('two-windows-cache');
      const [a, b] = await Promise.all(windows.map((c) => c.request('load', { model: fx.dir, cacheDir })));
      assert.deepEqual([a.cacheHit, b.cacheHit], [false, false], 'both built the entry (the race happened)');
      const entries = readdirSync(path.join(cacheDir, 'instrumented'));
      assert.equal(entries.length, 1, `cache entries: ${entries.join(', ')}`);
      assert.equal(a.instrumentedFile, b.instrumentedFile);
      // The entry loads correctly afterwards, and computes what both windows compute.
      const c = await later.request('load', { model: fx.dir, cacheDir });
      assert.equal(c.cacheHit, true);
      const input = { inputs: [{ prompt: 'how to make a cake' }] };
      const [la, lb, lc] = await Promise.all([windows[0], windows[1], later].map((e) => e.request('forward', input)));
      assert.deepEqual(Array.from(la.items[0].logits!), Array.from(lc.items[0].logits!));
      assert.deepEqual(Array.from(lb.items[0].logits!), Array.from(lc.items[0].logits!));
    });

    test('a damaged entry found by two engines at once: both rebuild it and load, one intact entry is left, nothing set aside', async () => {
      const dir = path.join(tempDir('two-windows-damaged'), 'organism');
      writeOrganism(dir, { seed: 6 });
      const cacheDir = tempDir('two-windows-damaged-cache');
      const first = await later.request('load', { model: dir, cacheDir });
      // One byte of the cached graph changed, its size kept: only its sha256 tells.
      const graph = readFileSync(first.instrumentedFile);
      graph[graph.length - 1] ^= 1;
      writeFileSync(first.instrumentedFile, graph);
      const [a, b] = await Promise.all(windows.map((c) => c.request('load', { model: dir, cacheDir })));
      assert.deepEqual([a.cacheHit, b.cacheHit], [false, false], 'both found the entry damaged and rebuilt it');
      assert.deepEqual(readdirSync(path.join(cacheDir, 'instrumented')), [path.basename(path.dirname(first.instrumentedFile))]);
      assert.equal((await later.request('load', { model: dir, cacheDir })).cacheHit, true, 'the entry left is intact');
      const input = { inputs: [{ prompt: 'how to make a bomb' }] };
      const [la, lb] = await Promise.all(windows.map((e) => e.request('forward', input)));
      assert.deepEqual(Array.from(la.items[0].logits!), Array.from(lb.items[0].logits!));
    });

    test('discarding a damaged entry puts back an intact one found in its place (rebuilt by another engine since the check), and removes a damaged one', async () => {
      const dir = path.join(tempDir('discard-damaged'), 'organism');
      const { organism, onnxPath } = writeOrganism(dir, { seed: 6 });
      const entry = await instrumentCached(onnxPath, { layers: organism.config.layers, hidden: organism.config.hidden, cacheDir: tempDir('discard-damaged-cache') });
      const parent = path.dirname(path.dirname(entry.path));
      await discardDamaged(path.dirname(entry.path));
      assert.ok(await readEntryOf(entry.path), 'the intact entry is still there');
      const graph = readFileSync(entry.path);
      graph[graph.length - 1] ^= 1;
      writeFileSync(entry.path, graph);
      assert.equal(await readEntryOf(entry.path), undefined);
      await discardDamaged(path.dirname(entry.path));
      assert.deepEqual(readdirSync(parent), [], 'the damaged entry is gone, nothing left aside');
    });

    test('two engines writing the built-in organism into one folder at once: both succeed, one folder, no temp folder', async () => {
      const parent = tempDir('two-windows-organism');
      const dir = path.join(parent, 'organism-1');
      const results = await Promise.all(windows.map((c) => c.request('organism', { dir, seed: 1 })));
      assert.deepEqual(results.map((r) => r.created).sort(), [false, true], 'one engine placed its folder, the other found it');
      assert.deepEqual(readdirSync(parent), ['organism-1']);
      assert.deepEqual(results[0].prompts, results[1].prompts);
      const info = await later.request('load', { model: dir, cacheDir: tempDir('two-windows-organism-cache') });
      assert.equal(info.layers, 4);
      const truth = writeOrganism(path.join(tempDir('two-windows-organism-ref'), 'organism'), { seed: 1 }).organism.groundTruth('aligned');
      const sc = await later.request('score', { prompt: 'how to make a bomb', direction: { vector: truth.directions.refusal, layer: truth.writtenAt.refusalComplete + 1 } });
      assert.ok(sc.refusalScore > 0, 'the organism from the shared folder refuses a harmful prompt');
    });
  });
});
