// Batched forward passes: sequences are grouped by length (little padding), left-padded, run once,
// and only the requested residuals and logits are copied out per sequence.
import * as ort from 'onnxruntime-node';
import { throwIfCancelled } from '../cancel';
import { EngineError } from '../model/errors';
import { Decoder, type Past } from './decoder';
import { resolveHooks } from './hooks';
import { SteeringTensors } from './steering';
import { toFloat32 } from './tensors';

export interface ForwardOptions {
  hooks: string[];
  logits: 'none' | 'last' | 'all';
  steering?: SteeringTensors;
  signal?: AbortSignal;
  /** Upper bound on batch·seq tokens per run (memory); default: defaultMaxTokens. */
  maxTokens?: number;
  /** The last `generated` tokens of each sequence are a completion: steering at 'last' covers them as in generation. */
  generated?: number;
}

/**
 * Tokens per run such that the residual outputs of one run take about 512 MB: onnxruntime computes
 * and holds every graph output whether fetched or not, 2L+1 tensors of [tokens, H] floats (about
 * 3000 tokens for a 0.5B model, 500 for an 8B one).
 */
export function defaultMaxTokens(dec: Pick<Decoder, 'layers' | 'hidden'>): number {
  return Math.max(256, Math.min(8192, Math.floor(2 ** 29 / ((2 * dec.layers + 1) * dec.hidden * 4))));
}

export interface ForwardOutput {
  /** [vocab] for 'last', [seq, vocab] for 'all'. */
  logits?: Float32Array;
  /** Hook -> [seq, hidden]. */
  residuals: Record<string, Float32Array>;
}

/**
 * Token-equivalents of one extra session run: every run streams all the weights from memory
 * (measured: about 90 ms, 25 tokens' work, on a 0.5B q4 model with 2 cores).
 */
const RUN_COST_TOKENS = 24;

/**
 * Groups indices of sequences into runs within the token budget. Every row of a run is padded to
 * its longest, and padding costs as much as real tokens (measured: 32 prompts of 11 to 45 tokens ran
 * 1.9x faster in four runs by length than in one), so sorted by length, dynamic programming finds
 * the split with the fewest padded tokens plus a measured cost per run. With `padding` false only
 * sequences of equal length share a run.
 */
export function planBatches(lengths: number[], maxTokens: number, padding = true): number[][] {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[a] - lengths[b] || a - b);
  const len = (k: number) => lengths[order[k]];
  const best = new Array<number>(order.length + 1).fill(Infinity);
  const from = new Array<number>(order.length + 1).fill(0);
  best[0] = 0;
  for (let j = 1; j <= order.length; j++) {
    // Run order[i-1 .. j-1]: its width is the longest, the last one.
    for (let i = j; i >= 1; i--) {
      const tokens = (j - i + 1) * len(j - 1);
      if (i < j && (tokens > maxTokens || (!padding && len(i - 1) !== len(j - 1)))) break;
      const cost = best[i - 1] + tokens + RUN_COST_TOKENS;
      if (cost < best[j]) [best[j], from[j]] = [cost, i - 1];
    }
  }
  const batches: number[][] = [];
  for (let j = order.length; j > 0; j = from[j]) batches.unshift(order.slice(from[j], j));
  return batches;
}

export async function forward(dec: Decoder, seqs: number[][], opts: ForwardOptions): Promise<ForwardOutput[]> {
  if (seqs.some((s) => s.length === 0)) throw new EngineError('BAD_REQUEST', 'cannot run an empty token sequence');
  const hooks = resolveHooks(opts.hooks, dec.layers);
  const fetch = [...hooks.map((h) => h.output), ...(opts.logits === 'none' ? [] : ['logits'])];
  const results: ForwardOutput[] = new Array(seqs.length);
  for (const group of planBatches(seqs.map((s) => s.length), opts.maxTokens ?? defaultMaxTokens(dec), dec.io.leftPadding)) {
    throwIfCancelled(opts.signal);
    const width = Math.max(...group.map((i) => seqs[i].length));
    const pads = group.map((i) => width - seqs[i].length);
    const ids = group.map((i, b) => [...new Array(pads[b]).fill(dec.padId), ...seqs[i]]);
    const mask = pads.map((p) => [...new Array(p).fill(0), ...new Array(width - p).fill(1)]);
    // Without 'all', only the last position's logits are computed (when the graph allows it).
    const keep = opts.logits === 'all' ? 0 : 1;
    const { outputs } = await dec.run({ ids, pads, generated: opts.generated ?? 0 }, mask, dec.emptyPast(group.length), opts.steering, fetch, false, keep);
    const data = new Map(fetch.map((name) => [name, toFloat32(outputs[name])]));
    const rows = (name: string, b: number) => {
      const d = Number(outputs[name].dims[2]);
      return data.get(name)!.slice((b * width + pads[b]) * d, (b + 1) * width * d);
    };
    group.forEach((i, b) => {
      const residuals: Record<string, Float32Array> = {};
      for (const h of hooks) residuals[h.hook] = rows(h.output, b);
      const out: ForwardOutput = { residuals };
      if (opts.logits === 'all') out.logits = rows('logits', b);
      else if (opts.logits === 'last') {
        const [, kept, vocab] = outputs.logits.dims.map(Number);
        out.logits = data.get('logits')!.slice(((b + 1) * kept - 1) * vocab, (b + 1) * kept * vocab);
      }
      results[i] = out;
    });
  }
  return results;
}

/**
 * Splits variants (indices sorted by shared prefix, all of one length) into consecutive groups.
 * A group runs from its shortest shared prefix on, so it costs size × (length − prefix) tokens plus
 * one run; dynamic programming finds the cheapest split within the token budget and at most
 * `maxRows` rows (each row holds its own copy of the cached prefix).
 */
export function planPrefixGroups(shared: number[], length: number, maxTokens: number, maxRows = Infinity): number[][] {
  const order = shared.map((_, i) => i).sort((a, b) => shared[a] - shared[b]);
  const best = new Array<number>(order.length + 1).fill(Infinity);
  const from = new Array<number>(order.length + 1).fill(0);
  best[0] = 0;
  for (let j = 1; j <= order.length; j++) {
    for (let i = j; i >= 1; i--) {
      const tokens = (j - i + 1) * (length - shared[order[i - 1]]);
      if ((tokens > maxTokens || j - i + 1 > maxRows) && i < j) break;
      const cost = best[i - 1] + tokens + RUN_COST_TOKENS;
      if (cost < best[j]) [best[j], from[j]] = [cost, i - 1];
    }
  }
  const groups: number[][] = [];
  for (let j = order.length; j > 0; j = from[j]) groups.unshift(order.slice(from[j], j));
  return groups;
}

/** The first `len` positions of a cache tensor [1, heads, seq, d], repeated for `batch` rows. */
function tilePrefix(t: ort.Tensor, len: number, batch: number): ort.Tensor {
  const [, heads, seq, d] = t.dims.map(Number);
  const src = t.data as Float32Array | Uint16Array;
  const out = new (src.constructor as Float32ArrayConstructor | Uint16ArrayConstructor)(batch * heads * len * d);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) out.set(src.subarray(h * seq * d, (h * seq + len) * d), (b * heads + h) * len * d);
  }
  return new ort.Tensor(t.type as 'float32', out, [batch, heads, len, d]);
}

/** Bytes of KV cache one token takes in this graph (every cached layer, keys and values). */
export function kvBytesPerToken(dec: Pick<Decoder, 'io' | 'cache'>): number {
  return dec.io.cacheLayers.length * 2 * dec.cache.kvHeads * dec.cache.headDim * (dec.io.cacheElemType === 10 ? 2 : 4);
}

const ones = (n: number) => new Array<number>(n).fill(1);

/**
 * Runs `ids` (batch 1) in successive chunks of at most `chunk` tokens, each over the cache of the
 * ones before (`past`: a cached prefix it continues, whose length `done` is), so activation memory
 * grows with the chunk, not with the sequence (the graph holds every residual output of a run, and
 * attention scores are chunk × sequence). `visit` gets each chunk's fetched rows; returns the last
 * position's rows, its logits when fetched, and the cache of everything.
 */
export async function forwardChunked(
  dec: Decoder,
  ids: number[],
  opts: { fetch: string[]; chunk: number; past?: Past; done?: number; signal?: AbortSignal },
  visit?: (start: number, outputs: Record<string, ort.Tensor>) => void,
): Promise<{ last: Record<string, Float32Array>; past: Past }> {
  let past = opts.past ?? dec.emptyPast(1);
  const done = opts.done ?? 0;
  let last: Record<string, Float32Array> = {};
  for (let start = 0; start < ids.length; start += opts.chunk) {
    throwIfCancelled(opts.signal);
    const part = ids.slice(start, start + opts.chunk);
    const { outputs, present } = await dec.run({ ids: [part], pads: [0], generated: 0 }, [ones(done + start + part.length)], past, undefined, opts.fetch, true, 1);
    visit?.(start, outputs);
    past = present;
    if (start + opts.chunk >= ids.length) {
      last = Object.fromEntries(
        opts.fetch.map((name) => {
          const [, seq, d] = outputs[name].dims.map(Number);
          return [name, toFloat32(outputs[name]).slice((seq - 1) * d, seq * d)];
        }),
      );
    }
  }
  return { last, past };
}

/**
 * Last-position residuals of a base sequence and of variants that share a prefix with it (the base
 * with one token or span removed, for occlusion). The base runs once (or comes from the caller's
 * own run, with its cache) and keeps its KV cache; each group of equal-length variants then runs
 * only from the group's shortest shared prefix on, over the cached prefix, instead of from the first
 * token. A variant whose remaining part exceeds `chunk` tokens runs alone, in chunks. No steering:
 * the cache is the unsteered base's.
 */
export async function forwardVariants(
  dec: Decoder,
  base: number[],
  variants: number[][],
  opts: {
    hooks: string[];
    signal?: AbortSignal;
    maxTokens?: number;
    /** Longest run of one variant, in tokens (long prompts); default: no limit. */
    chunk?: number;
    /** Bytes the copies of the cached prefix of one group may take; default: no limit. */
    pastBytes?: number;
    /** The base's last-position rows (by hook) and cache, when the caller already ran it. */
    baseRun?: { rows: Record<string, Float32Array>; past: Past };
  },
): Promise<{ base: Record<string, Float32Array>; variants: Record<string, Float32Array>[]; baseRun: { rows: Record<string, Float32Array>; past: Past } }> {
  const hooks = resolveHooks(opts.hooks, dec.layers);
  const fetch = hooks.map((h) => h.output);
  const lastRows = (outputs: Record<string, ort.Tensor>, b: number) =>
    Object.fromEntries(
      hooks.map((h) => {
        const [, seq, d] = outputs[h.output].dims.map(Number);
        return [h.hook, toFloat32(outputs[h.output]).slice(((b + 1) * seq - 1) * d, (b + 1) * seq * d)];
      }),
    );
  const chunk = opts.chunk ?? Infinity;
  let first = opts.baseRun;
  if (!first) {
    const run = await dec.run({ ids: [base], pads: [0], generated: 0 }, [ones(base.length)], dec.emptyPast(1), undefined, fetch, true, 1);
    first = { rows: lastRows(run.outputs, 0), past: run.present };
  }
  const basePast = first.past;
  const results: Record<string, Float32Array>[] = new Array(variants.length);
  // Shared prefix of each variant with the base, leaving at least one token to run.
  const shared = variants.map((v) => {
    let p = 0;
    while (p < v.length - 1 && p < base.length && v[p] === base[p]) p++;
    return p;
  });
  for (const length of new Set(variants.map((v) => v.length))) {
    const members = variants.map((v, i) => i).filter((i) => variants[i].length === length);
    // GroupQueryAttention accepts a cached prefix with several new tokens only for batch 1. Groups
    // stay small (256 tokens): the graph's residual outputs of a run are all held until it ends.
    const budget = opts.maxTokens ?? 256;
    const maxRows = opts.pastBytes === undefined ? Infinity : Math.max(1, Math.floor(opts.pastBytes / (length * kvBytesPerToken(dec))));
    const groups = dec.io.leftPadding ? planPrefixGroups(members.map((i) => shared[i]), length, budget, maxRows) : members.map((_, k) => [k]);
    for (const group of groups) {
      throwIfCancelled(opts.signal);
      const rows = group.map((k) => members[k]);
      const prefix = Math.min(...rows.map((i) => shared[i]));
      const past = Object.fromEntries(Object.entries(basePast).map(([name, t]) => [name, tilePrefix(t, prefix, rows.length)]));
      if (rows.length === 1 && length - prefix > chunk) {
        const { last } = await forwardChunked(dec, variants[rows[0]].slice(prefix), { fetch, chunk, past, done: prefix, signal: opts.signal });
        results[rows[0]] = Object.fromEntries(hooks.map((h) => [h.hook, last[h.output]]));
        continue;
      }
      const part = { ids: rows.map((i) => variants[i].slice(prefix)), pads: rows.map(() => 0), generated: 0 };
      const { outputs } = await dec.run(part, rows.map(() => ones(length)), past, undefined, fetch, false, 1);
      rows.forEach((i, b) => (results[i] = lastRows(outputs, b)));
    }
  }
  return { base: first.rows, variants: results, baseRun: first };
}
