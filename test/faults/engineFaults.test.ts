// Fault injection, category 3: the engine process killed, out of memory or hung, with real child
// processes and real signals (SIGKILL, SIGSTOP), real memory limits (V8's --max-old-space-size,
// the kernel's RLIMIT_AS through prlimit) and real damaged files. What must hold: the failure is
// detected and explained with its own code, the engine comes back on request, and nothing partial
// is kept as if it were complete.
import assert from 'node:assert/strict';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { alive } from '../../src/engine/atomicWrite';
import { readDirections, writeDirections } from '../../src/engine/directions/file';
import { Engine } from '../../src/engine/engine';
import { instrumentCached } from '../../src/engine/onnx/cache';
import type { EngineRequestError } from '../../src/host/engineClient';
import { writeOrganism } from '../../src/modelgen/organism2';
import { REAL_ENGINE, rejectsWith, TEST_ENGINE, testClient, TSX } from '../support/engineClients';
import { fixture } from '../support/fixtures';
import { REPO, tempDir } from '../support/paths';

/** The organism (a tiny model with a planted refusal circuit) and its prompt sets, written once for the file. */
const organismDir = path.join(tempDir('faults3'), 'organism');
const { organism } = writeOrganism(organismDir, { seed: 3 });
const EXTRACT = { harmful: organism.prompts.harmful_train, harmless: organism.prompts.harmless_train };

describe('faults 3: engine faults', () => {
  describe('crashes of the protocol test engine', () => {
    const { c, states, logs } = testClient(TEST_ENGINE);
    after(() => c.dispose());

    test('a crash rejects pending requests with ENGINE_CRASHED and the last stderr line, and restart brings the last model back', async () => {
      await c.request('load', { model: 'm', cacheDir: '/tmp' });
      assert.ok(c.hasModel);
      await c.request('tokenize', { prompt: 'stderr' });
      states.length = 0;
      const generation = c.request('generate', { input: { prompt: 'x' }, maxNewTokens: 1000 });
      const crash = c.request('load', { model: 'crash', cacheDir: '/tmp' });
      const e = await rejectsWith(crash, 'ENGINE_CRASHED', /exited with code 3 during 'load' \(last output: second \)/);
      assert.match(e.detail ?? '', /(^|\n)first line\nsecond $/, 'stderr lines are reassembled across chunks');
      assert.ok(e.engineStopped, 'the crash notification speaks for it, not reportError');
      await rejectsWith(generation, 'ENGINE_CRASHED', /during 'generate'/);
      assert.equal(c.state, 'crashed');
      assert.equal(c.lastFailure?.code, 'ENGINE_CRASHED');
      assert.ok(logs.some((l) => l.startsWith('the engine exited with code 3')));
      assert.ok(!c.hasModel, 'a crashed engine has no model (the extension loads it again before the next request)');
      const info = await c.restart();
      assert.equal(info?.model, 'm', 'the last successful load is replayed');
      assert.ok(c.hasModel);
      assert.equal(c.state, 'ready');
      assert.deepEqual(states, ['busy', 'crashed', 'stopped', 'starting', 'busy', 'ready']);
    });

    test('an exception outside any request is reported by the engine, which exits 70', async () => {
      const e = await rejectsWith(c.request('tokenize', { prompt: 'uncaught' }), 'ENGINE_CRASHED', /exited with code 70 during 'tokenize'/);
      assert.match(e.detail ?? '', /engine crashed: Error: thrown outside any request/);
      assert.ok(logs.some((l) => l.startsWith('engine crashed: Error: thrown outside any request')));
      assert.equal(c.state, 'crashed');
      // The next request starts a fresh engine on demand, with no model until one is loaded.
      assert.equal((await c.request('tokenize', { prompt: 'again' })).text, 'again');
      assert.ok(!c.hasModel);
    });

    test('an engine entry that does not exist is a crash naming the problem', async () => {
      const { c: d } = testClient(path.join(REPO, 'test/engine/fixtures/doesNotExist.ts'));
      const e = await rejectsWith(d.request('info', {}), 'ENGINE_CRASHED', /exited with code 1 during 'info' \(last output: /);
      assert.match(e.detail ?? '', /Cannot find module/);
      assert.equal(d.state, 'crashed');
      await d.dispose();
    });

    test('a process ended by an uncaught std::bad_alloc is OUT_OF_MEMORY with advice', async () => {
      // What libstdc++ prints before aborting, written by the test engine, which then really dies of
      // SIGABRT: a real bad_alloc could not be produced reliably here (under RLIMIT_AS onnxruntime
      // fails with its own recoverable arena error instead, tested below).
      const e = await rejectsWith(c.request('load', { model: 'bad_alloc', cacheDir: '/tmp' }), 'OUT_OF_MEMORY');
      assert.match(e.message, /^the engine ran out of memory during 'load' and stopped \(terminate called after throwing an instance of 'std::bad_alloc'\); try a smaller dtype \(q4\), fewer prompts or a shorter prompt$/);
      assert.ok(e.engineStopped);
      assert.equal(c.lastFailure?.code, 'OUT_OF_MEMORY');
      assert.equal(c.state, 'crashed');
      assert.equal((await c.restart())?.model, 'm');
      // When only libstdc++'s what() line got out before the abort, it is still out of memory.
      const terse = await rejectsWith(c.request('load', { model: 'bad_alloc_terse', cacheDir: '/tmp' }), 'OUT_OF_MEMORY');
      assert.match(terse.message, /^the engine ran out of memory during 'load' and stopped \(what\(\): {2}std::bad_alloc\); try a smaller dtype/);
      assert.equal((await c.restart())?.model, 'm');
    });
  });

  describe('a hung engine', () => {
    test('an engine stopped (SIGSTOP) mid-extraction is killed after the timeout: ENGINE_HUNG says what ran for how long; restart brings it back', async () => {
      // The watchdog is off while the engine starts and loads, then 2 s for the extraction.
      let timeout = 0;
      const { c, states, logs } = testClient(REAL_ENGINE, { hangTimeout: () => timeout });
      try {
        await c.request('load', { model: organismDir, cacheDir: tempDir('faults3-hang') });
        const pid = c.pid!;
        timeout = 2000;
        const started = Date.now();
        let stopped = false;
        const extraction = c.request('extract', EXTRACT, {
          onProgress: () => {
            if (!stopped) process.kill(pid, 'SIGSTOP');
            stopped = true;
          },
        });
        const e = await rejectsWith(extraction, 'ENGINE_HUNG', /^the engine showed no sign of life for \d+\.\d s while running 'extract' \(started \d+\.\d s ago\), longer than the 2\.0 s allowed, so it was stopped$/);
        const waited = Date.now() - started;
        assert.ok(waited >= 2000 && waited < 10_000, `detected after ${waited} ms`);
        assert.ok(e.engineStopped);
        assert.equal(c.state, 'crashed');
        assert.equal(c.lastFailure?.code, 'ENGINE_HUNG');
        assert.ok(!alive(pid), 'the stopped process was killed');
        assert.ok(logs.some((l) => l.startsWith(`the engine (pid ${pid}) showed no sign of life`)));
        // Off again for the restart's load, which can block the event loop for seconds on a busy machine.
        timeout = 0;
        const info = await c.restart();
        assert.equal(info?.model, organismDir);
        const ex = await c.request('extract', EXTRACT);
        assert.ok(ex.selected, 'the extraction completes on the restarted engine');
        assert.deepEqual(states.slice(states.indexOf('crashed')), ['crashed', 'stopped', 'starting', 'busy', 'ready', 'busy', 'ready']);
      } finally {
        await c.dispose();
      }
    });

    test('a request that waits longer than the timeout with a free event loop is not a hang: heartbeats keep it alive', async () => {
      // Off while the engine starts (tsx compiles it, slow on a busy machine), then 2.5 s.
      let timeout = 0;
      const { c, states } = testClient(TEST_ENGINE, { hangTimeout: () => timeout });
      try {
        await c.request('load', { model: 'm', cacheDir: '/tmp' });
        timeout = 2500;
        const ctl = new AbortController();
        const waiting = c.request('tokenize', { prompt: 'wait' }, { signal: ctl.signal });
        await new Promise((r) => setTimeout(r, 6000));
        ctl.abort();
        await rejectsWith(waiting, 'CANCELLED');
        assert.ok(!states.includes('crashed'), `states: ${states.join(', ')}`);
        assert.equal(c.state, 'ready');
      } finally {
        await c.dispose();
      }
    });
  });

  describe('out of memory', () => {
    test('the V8 heap exhausted by a huge prompt (--max-old-space-size=128): OUT_OF_MEMORY with advice, and restart works', async () => {
      const { c } = testClient(REAL_ENGINE, { execArgv: ['--max-old-space-size=128'] });
      try {
        await c.request('load', { model: organismDir, cacheDir: tempDir('faults3-v8') });
        // About 5 million tokens, each kept as a JS string and number: far beyond a 128 MB heap.
        const e = await rejectsWith(c.request('tokenize', { prompt: 'how to build a bomb '.repeat(1_000_000), chat: false }), 'OUT_OF_MEMORY');
        assert.match(e.message, /^the engine ran out of memory during 'tokenize' and stopped \(FATAL ERROR: .*JavaScript heap out of memory\); try a smaller dtype \(q4\), fewer prompts or a shorter prompt$/);
        assert.ok(e.engineStopped);
        assert.equal(c.state, 'crashed');
        assert.match(c.lastFailure?.message ?? '', /ran out of memory during 'tokenize'/);
        await c.restart();
        assert.deepEqual((await c.request('tokenize', { prompt: 'how to build a bomb', chat: false })).tokens, ['how', 'to', 'build', 'a', 'bomb']);
      } finally {
        await c.dispose();
      }
    });

    const prlimit = ['/usr/bin/prlimit', '/bin/prlimit'].find(existsSync);
    /**
     * Limits the process's address space (soft limit only, so it can be lifted) to what it has
     * mapped now plus `headroom` bytes; returns the function that lifts it.
     */
    const limitAddressSpace = (pid: number, headroom: number) => {
      const mapped = Number(/VmSize:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
      execFileSync(prlimit!, [`--pid=${pid}`, `--as=${mapped + headroom}:`]);
      return () => execFileSync(prlimit!, [`--pid=${pid}`, '--as=unlimited:']);
    };
    test('an onnxruntime allocation refused under an address-space limit (prlimit --as) is OUT_OF_MEMORY, and the engine lives on', { skip: prlimit ? undefined : 'prlimit (util-linux) is not installed' }, async () => {
      const { c, states } = testClient(REAL_ENGINE);
      try {
        await c.request('load', { model: organismDir, cacheDir: tempDir('faults3-ort') });
        const pid = c.pid!;
        // 64 MB above what the engine has mapped; 4000 tokens' attention scores need 256 MB in one buffer.
        const lift = limitAddressSpace(pid, 64 * 2 ** 20);
        const ids = Array.from({ length: 4000 }, (_, i) => 1 + (i % 20));
        const e = await rejectsWith(c.request('forward', { inputs: [{ ids }], logits: 'last' }), 'OUT_OF_MEMORY');
        assert.match(e.message, /^the engine ran out of memory \(Failed to allocate memory for requested buffer of size \d+\); try a smaller dtype \(q4\)/);
        assert.match(e.detail ?? '', /bfc_arena/);
        assert.ok(!e.engineStopped, 'reportError shows this one: no crash notification comes');
        assert.equal(c.pid, pid);
        assert.equal((await c.request('forward', { inputs: [{ ids: ids.slice(0, 8) }] })).items[0].ids.length, 8, 'the same process answers the next request');
        lift();
        assert.equal((await c.request('forward', { inputs: [{ ids }] })).items[0].ids.length, 4000, 'and the big one once memory allows');
        assert.ok(!states.includes('crashed'));
      } finally {
        await c.dispose();
      }
    });

    test('a load that runs out of memory under an address-space limit is OUT_OF_MEMORY (or a crash), never an invalid model', { skip: prlimit ? undefined : 'prlimit (util-linux) is not installed' }, async (t) => {
      const { c } = testClient(REAL_ENGINE);
      try {
        // 58 MB of weights, instrumented beforehand in this process, so the engine's load goes
        // straight to onnxruntime's session creation, with 8 MB to spare.
        const big = fixture({ style: 'torch', dtype: 'fp32', config: { layers: 6, hidden: 512, intermediate: 1024, heads: 8, kvHeads: 4, headDim: 64 } });
        const cacheDir = tempDir('faults3-ort-load');
        await instrumentCached(big.onnxPath, { layers: 6, hidden: 512, cacheDir });
        await c.request('load', { model: organismDir, cacheDir });
        const lift = limitAddressSpace(c.pid!, 8 * 2 ** 20);
        const e = await c.request('load', { model: big.dir, cacheDir }).then(
          () => undefined,
          (err: EngineRequestError) => err,
        );
        if (!e) {
          // Memory the process had freed was enough after all (rare): nothing ran out to check.
          t.skip('the model fitted in memory the engine had already mapped');
          return;
        }
        // Where it runs out is the system's choice. Mostly in onnxruntime (a bad_alloc, or a thread
        // it cannot start): the engine survives and says so. Sometimes in V8 or in native code that
        // does not check its allocations: the process ends (the crash path, tested above).
        if (e.engineStopped) {
          assert.ok(e.code === 'OUT_OF_MEMORY' || e.code === 'ENGINE_CRASHED', `${e.code}: ${e.message}`);
          await c.restart();
        } else {
          assert.equal(e.code, 'OUT_OF_MEMORY', e.message);
          assert.match(e.message, /^the engine ran out of memory .*; try a smaller dtype \(q4\), fewer prompts or a shorter prompt$/);
          lift();
          assert.equal((await c.request('info', {})).model, organismDir, 'the organism is still loaded');
        }
        assert.equal((await c.request('load', { model: big.dir, cacheDir })).layers, 6, 'and the big model loads once memory allows');
      } finally {
        await c.dispose();
      }
    });
  });

  describe('killed mid-way', () => {
    const { c, states } = testClient(REAL_ENGINE);
    before(() => c.request('load', { model: organismDir, cacheDir: tempDir('faults3-kill') }));
    after(() => c.dispose());

    test('SIGKILL mid-extraction: ENGINE_CRASHED naming a kill from outside (the out-of-memory killer, when memory is short); restart brings back a working engine that completes it', async () => {
      const pid = c.pid!;
      const progress: string[] = [];
      const extraction = c.request('extract', EXTRACT, {
        onProgress: (n) => {
          progress.push(n.message);
          if (progress.length === 1) process.kill(pid, 'SIGKILL');
        },
      });
      const e = await rejectsWith(extraction, 'ENGINE_CRASHED', /^the engine was killed \(SIGKILL\) during 'extract' by another process or the system.*If memory was short, that was most likely the out-of-memory killer.*: try a smaller dtype \(q4\)/s);
      assert.ok(e.engineStopped);
      assert.equal(progress.length, 1, 'no progress after the kill');
      assert.equal(c.state, 'crashed');
      const info = await c.restart();
      assert.equal(info?.cacheHit, true, 'the instrumented graph comes from the cache after a restart');
      const ex = await c.request('extract', EXTRACT);
      assert.ok(ex.selected && ex.vector);
      assert.equal(c.state, 'ready');
    });

    test('SIGKILL mid-generation, then the same greedy completion after a restart', async () => {
      const g = await c.request('generate', { input: { prompt: 'write a poem' }, maxNewTokens: 5 });
      const pending = c.request('generate', { input: { prompt: 'write a poem' }, maxNewTokens: 4000 });
      process.kill(c.pid!, 'SIGKILL');
      await rejectsWith(pending, 'ENGINE_CRASHED', /killed \(SIGKILL\)/);
      await c.restart();
      assert.deepEqual((await c.request('generate', { input: { prompt: 'write a poem' }, maxNewTokens: 5 })).ids, g.ids);
      assert.ok(states.filter((s) => s === 'crashed').length >= 2);
    });
  });

  describe('the CLI killed mid-extraction', () => {
    const run = (args: string[], onStderr?: (line: string, child: ChildProcess) => void) =>
      new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [...TSX, path.join(REPO, 'src/cli/main.ts'), ...args], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        createInterface({ input: child.stderr! }).on('line', (line) => {
          onStderr?.(line, child);
          stderr += `${line}\n`;
        });
        child.on('close', (code, signal) => resolve({ code, signal, stderr }));
      });

    test('refusal-lens extract --out killed after its first candidate leaves no output and no temp file; run again, it completes', async () => {
      const outDir = tempDir('faults3-cli');
      const out = path.join(outDir, 'refusal.json');
      const prompts = path.join(organismDir, 'prompts');
      const sets = ['--harmful', path.join(prompts, 'harmful_train.txt'), '--harmless', path.join(prompts, 'harmless_train.txt')];
      const args = ['extract', '--model', organismDir, ...sets, '--cache-dir', tempDir('faults3-cli-cache'), '--out', out];
      const killed = await run(args, (line, child) => {
        if (line.includes('Scoring candidate 1 ')) child.kill('SIGKILL');
      });
      assert.equal(killed.signal, 'SIGKILL', `the CLI finished before the kill: ${killed.stderr}`);
      assert.deepEqual(readdirSync(outDir), [], 'no direction file, no data file, no temp file');
      const done = await run(args);
      assert.equal(done.code, 0, done.stderr);
      assert.deepEqual(readdirSync(outDir).sort(), ['refusal.f32', 'refusal.json']);
      assert.equal((await readDirections(out)).directions[0].vector.length, organism.config.hidden);
    });
  });

  describe('direction files are written whole or not at all', () => {
    test('a write that fails half-way (its data file name is taken by a folder) leaves no temp file and no document, and the previous pair stays readable', async () => {
      const dir = tempDir('faults3-dir');
      const doc = (v: number) => ({ model: { id: 'm', layers: 2, hidden: 3 }, selected: 0, directions: [{ name: 'r', layer: 1, position: -1, method: 'test', vector: [v, 0, 1] }] });
      await writeDirections(path.join(dir, 'old.json'), doc(1));
      mkdirSync(path.join(dir, 'new.f32', 'in-the-way'), { recursive: true });
      await assert.rejects(writeDirections(path.join(dir, 'new.json'), doc(2)), (e: Error & { code?: string }) => e.code === 'BAD_REQUEST' && /cannot write .*new\.f32 and .*new\.json/.test(e.message));
      assert.deepEqual(readdirSync(dir).sort(), ['new.f32', 'old.f32', 'old.json']);
      assert.deepEqual((await readDirections(path.join(dir, 'old.json'))).directions[0].vector, [1, 0, 1]);
    });
  });

  describe('leftovers of writers killed part-way', () => {
    test('the next writer removes the temp files and folders of dead processes and keeps a live one\u2019s (direction files, cache entries)', async () => {
      // The leftovers are made here under a real dead pid and a real live one: they stand for a
      // writer killed between writing its temp and renaming it, a moment a kill cannot be timed to.
      const dead = spawn(process.execPath, ['-e', '']);
      await new Promise((r) => dead.on('exit', r));
      const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
      try {
        const dir = tempDir('faults3-orphans');
        for (const name of [`d.json.tmp-${dead.pid}-0a0b`, `d.f32.tmp-${dead.pid}-0c0d`, `d.json.tmp-${live.pid}-0e0f`]) writeFileSync(path.join(dir, name), 'half');
        await writeDirections(path.join(dir, 'd.json'), { model: { id: 'm', layers: 2, hidden: 2 }, selected: 0, directions: [{ name: 'r', layer: 0, position: -1, method: 'test', vector: [1, 0] }] });
        assert.deepEqual(readdirSync(dir).sort(), ['d.f32', 'd.json', `d.json.tmp-${live.pid}-0e0f`]);

        const params = { model: organismDir, dtype: 'fp32' as const, cacheDir: tempDir('faults3-orphans-cache'), allowRemote: false };
        const entry = path.dirname((await Engine.prepare(params)).info.instrumentedFile);
        rmSync(entry, { recursive: true });
        for (const pid of [dead.pid, live.pid]) {
          mkdirSync(`${entry}.tmp-${pid}-x1`);
          writeFileSync(`${entry}.tmp-${pid}-x1/model.onnx_data`, Buffer.alloc(1 << 20));
        }
        assert.equal((await Engine.prepare(params)).info.cacheHit, false);
        assert.deepEqual(readdirSync(path.dirname(entry)).sort(), [path.basename(entry), `${path.basename(entry)}.tmp-${live.pid}-x1`]);
      } finally {
        live.kill();
      }
    });
  });

  describe('the instrumented-graph cache checks its entries on load', () => {
    const cacheDir = tempDir('faults3-cache');
    const params = { model: organismDir, dtype: 'fp32' as const, cacheDir, allowRemote: false };
    let reference: Float32Array;
    let entry: string;
    before(async () => {
      const e = await Engine.load(params);
      entry = path.dirname(e.info.instrumentedFile);
      reference = (await e.forward({ inputs: [{ prompt: 'how to build a bomb', chat: true }], hooks: [], logits: 'last' })).items[0].logits!;
      await e.dispose();
    });

    /** Damages the entry, then loads: the warning names the problem, the entry is rebuilt and gives the same logits. */
    async function rebuildsAfter(damage: () => void, problem: RegExp): Promise<void> {
      damage();
      const warnings: string[] = [];
      const restore = process.stderr.write;
      // The engine reports the rebuild on stderr (the host logs the engine's stderr as warnings).
      process.stderr.write = ((chunk: string | Uint8Array) => (warnings.push(String(chunk)), true)) as typeof process.stderr.write;
      let e: Engine;
      try {
        e = await Engine.load(params);
      } finally {
        process.stderr.write = restore;
      }
      try {
        assert.equal(e.info.cacheHit, false, 'rebuilt, not loaded');
        assert.equal(warnings.length, 1, warnings.join(''));
        assert.match(warnings[0], /^the cached instrumented graph in .* is damaged \((.*)\); rebuilding it\n$/);
        assert.match(warnings[0], problem);
        const logits = (await e.forward({ inputs: [{ prompt: 'how to build a bomb', chat: true }], hooks: [], logits: 'last' })).items[0].logits!;
        assert.deepEqual(Array.from(logits), Array.from(reference));
      } finally {
        await e.dispose();
      }
      const again = await Engine.load(params);
      assert.equal(again.info.cacheHit, true, 'the rebuilt entry is used from then on');
      await again.dispose();
    }

    const flipByte = (file: string) => {
      const b = readFileSync(file);
      b[b.length >> 1] ^= 0xff;
      writeFileSync(file, b);
    };

    test('the entry records size and sha256 of its graph and data file', () => {
      const meta = JSON.parse(readFileSync(path.join(entry, 'instrument.json'), 'utf8')) as { files: Record<string, { size: number; sha256: string }> };
      assert.deepEqual(Object.keys(meta.files).sort(), ['model.onnx', 'model.onnx_data']);
      assert.equal(meta.files['model.onnx_data'].size, readFileSync(path.join(entry, 'model.onnx_data')).length);
    });
    test('a byte changed in the graph', () => rebuildsAfter(() => flipByte(path.join(entry, 'model.onnx')), /model\.onnx does not match its sha256/));
    test('a byte changed in the weights (the data file)', () => rebuildsAfter(() => flipByte(path.join(entry, 'model.onnx_data')), /model\.onnx_data does not match its sha256/));
    test('a truncated data file', () => rebuildsAfter(() => truncateSync(path.join(entry, 'model.onnx_data'), 1000), /model\.onnx_data has 1000 bytes, \d+ were written/));
    test('a deleted data file', () => rebuildsAfter(() => rmSync(path.join(entry, 'model.onnx_data')), /model\.onnx_data is missing/));
    test('a garbage meta file', () => rebuildsAfter(() => writeFileSync(path.join(entry, 'instrument.json'), '\u0000garbage{'), /instrument\.json is not JSON/));
    test('a meta file that is JSON but not an entry\u2019s', () => rebuildsAfter(() => writeFileSync(path.join(entry, 'instrument.json'), '{"version": 3, "layers": "four"}'), /instrument\.json does not describe an entry of this version: layers: /));
    test('a deleted meta file', () => rebuildsAfter(() => rmSync(path.join(entry, 'instrument.json')), /instrument\.json is missing/));
  });
});
