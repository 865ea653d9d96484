// Timing, the machine's matmul limit, FLOP counts and the result rows. Every ratio compares two
// things measured in the same process and the same run, interleaved, so load from other processes
// on this small machine hits both sides alike.
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import * as ort from 'onnxruntime-node';
import { DataType, encodeModel, f32Tensor, MS_DOMAIN, node, tensorFromTyped, valueInfo } from '../src/engine/onnx/proto';
import type { DecoderConfig } from '../src/modelgen';

export interface Row {
  name: string;
  /** null when the measurement is not available here (note says why). */
  value: number | null;
  unit: string;
  /** Measured / baseline (for the limit rows: achieved / limit). */
  ratio: number | null;
  target: string | null;
  met: boolean | null;
  note?: string;
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function time(f: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await f();
  return performance.now() - t;
}

export interface Timings {
  /** Median milliseconds of each function. */
  ms: number[];
  /** Milliseconds of each function, per round. */
  rounds: number[][];
}

/**
 * Times the functions over `runs` rounds after one warm-up round. Within a round they run back to
 * back, in alternating order from round to round, so outside load and drift hit every side alike.
 */
export async function compare(runs: number, ...fs: (() => Promise<unknown>)[]): Promise<Timings> {
  for (const f of fs) await f();
  const rounds: number[][] = [];
  for (let r = 0; r < runs; r++) {
    const ms = new Array<number>(fs.length);
    const order = [...fs.keys()];
    if (r % 2) order.reverse();
    for (const i of order) ms[i] = await time(fs[i]);
    rounds.push(ms);
  }
  return { ms: fs.map((_, i) => median(rounds.map((r) => r[i]))), rounds };
}

/** Median over rounds of time(a) / time(b): each ratio compares runs made moments apart. */
export const pairedRatio = (t: Timings, a: number, b: number) => median(t.rounds.map((r) => r[a] / r[b]));

/** Checks a ratio against an upper (`<=`) or lower (`>=`) bound. */
export function row(name: string, value: number, unit: string, ratio: number, bound: '<=' | '>=' | null, limit = 0, note?: string): Row {
  const met = bound === null ? null : bound === '<=' ? ratio <= limit : ratio >= limit;
  return { name, value, unit, ratio, target: bound ? `${bound} ${limit}` : null, met, ...(note ? { note } : {}) };
}

export const unavailable = (name: string, unit: string, target: string, why: string): Row => ({
  name, value: null, unit, ratio: null, target, met: null, note: `not available: ${why}`,
});

/**
 * Multiply-adds ×2 of a causal prefill of `tokens` tokens: every linear layer, the lm_head for
 * `logitRows` positions, and the attention scores and mixing over the causal triangle.
 */
export function prefillFlops(c: DecoderConfig, tokens: number, logitRows = tokens): number {
  const q = c.heads * c.headDim;
  const kv = c.kvHeads * c.headDim;
  const perToken = c.layers * (c.hidden * (q + 2 * kv) + q * c.hidden + 3 * c.hidden * c.intermediate);
  const attention = c.layers * c.heads * c.headDim * 2 * ((tokens * (tokens + 1)) / 2);
  return 2 * (perToken * tokens + c.hidden * c.vocabSize * logitRows + attention);
}

/**
 * GFLOP/s of one large matrix product in onnxruntime with the engine's session settings, best of
 * `runs` rounds: a fp32 MatMul, or for q4 a MatMulNBits with the model's quantization (4 bits,
 * blocks of 32), whose CPU kernels may compute in int8 and beat fp32.
 */
export async function matmulLimit(runs: number, dtype: 'fp32' | 'q4'): Promise<{ gflops: number; shape: string }> {
  const [m, k, n] = [1024, 4096, 4096];
  const bytes = (len: number) => Uint8Array.from({ length: len }, (_, i) => (i * 2654435761) >>> 24);
  const q4 = dtype === 'q4';
  const graph = {
    name: 'limit',
    node: [
      q4
        ? node('MatMulNBits', ['x', 'w', 'scales'], ['y'], 'mm', { K: k, N: n, bits: 4, block_size: 32, accuracy_level: 0 }, MS_DOMAIN)
        : node('MatMul', ['x', 'w'], ['y'], 'mm'),
    ],
    initializer: q4
      ? [tensorFromTyped('w', [n, k / 32, 16], DataType.UINT8, bytes((n * k) / 2)), f32Tensor('scales', [(n * k) / 32], new Float32Array((n * k) / 32).fill(0.01))]
      : [f32Tensor('w', [k, n], Float32Array.from(bytes(k * n), (b) => b / 256 - 0.5))],
    input: [valueInfo('x', DataType.FLOAT, [m, k])],
    output: [valueInfo('y', DataType.FLOAT, [m, n])],
  };
  const opsetImport = [{ domain: '', version: 17 }, { domain: MS_DOMAIN, version: 1 }];
  const session = await ort.InferenceSession.create(encodeModel({ irVersion: 8, opsetImport, graph }), { executionProviders: ['cpu'], graphOptimizationLevel: 'all' });
  const x = new ort.Tensor('float32', new Float32Array(m * k).fill(0.5), [m, k]);
  // A limit is what the machine can do: the best round, not the median, so a burst of outside load does not lower it.
  const ms = Math.min(...(await compare(runs, () => session.run({ x }))).rounds.map((r) => r[0]));
  await session.release();
  return { gflops: (2 * m * k * n) / (ms / 1000) / 1e9, shape: `${q4 ? 'MatMulNBits' : 'MatMul'} ${m}×${k}×${n}` };
}

export function machine(): Record<string, string | number> {
  const cpu = os.cpus()[0]?.model ?? 'unknown';
  let kernel = os.release();
  try {
    kernel = execFileSync('uname', ['-srm'], { encoding: 'utf8' }).trim();
  } catch {
    /* uname missing: os.release() will do */
  }
  return {
    cpu,
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: kernel,
    node: process.version,
    onnxruntime: (ort.env as { versions?: { common?: string } }).versions?.common ?? 'unknown',
    loadAverageAtStart: os.loadavg()[0].toFixed(2),
  };
}

export function formatTable(rows: Row[]): string {
  const cells = rows.map((r) => [
    r.name,
    r.value === null ? '—' : r.value >= 100 ? r.value.toFixed(0) : r.value.toPrecision(3),
    r.unit,
    r.ratio === null ? '—' : r.ratio.toFixed(2),
    r.target ?? '',
    r.met === null ? (r.target && r.value === null ? 'n/a' : '') : r.met ? 'met' : 'NOT MET',
    r.note ?? '',
  ]);
  const head = ['benchmark', 'value', 'unit', 'ratio', 'target', 'met', 'note'];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i])).join(' | ')} |`;
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}
