// Batched forward passes: sequences are grouped by length (little padding), left-padded, run once,
// and only the requested residuals and logits are copied out per sequence.
import { EngineError } from '../model/errors';
import { Decoder } from './decoder';
import { resolveHooks } from './hooks';
import { SteeringTensors } from './steering';
import { toFloat32 } from './tensors';

export interface ForwardOptions {
  hooks: string[];
  logits: 'none' | 'last' | 'all';
  steering?: SteeringTensors;
  signal?: AbortSignal;
  /** Upper bound on batch·seq tokens per run (memory). */
  maxTokens?: number;
}

export interface ForwardOutput {
  /** [vocab] for 'last', [seq, vocab] for 'all'. */
  logits?: Float32Array;
  /** Hook -> [seq, hidden]. */
  residuals: Record<string, Float32Array>;
}

export function throwIfCancelled(signal?: AbortSignal): void {
  if (signal?.aborted) throw new EngineError('CANCELLED', 'cancelled');
}

/**
 * Groups indices of sequences into runs of similar length within the token budget; with
 * `padding` false only sequences of equal length share a run.
 */
export function planBatches(lengths: number[], maxTokens: number, padding = true): number[][] {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[a] - lengths[b]);
  const batches: number[][] = [];
  let cur: number[] = [];
  for (const i of order) {
    const width = Math.max(lengths[i], ...cur.map((j) => lengths[j]));
    const mixed = cur.length > 0 && lengths[cur[0]] !== lengths[i];
    if (cur.length > 0 && (width * (cur.length + 1) > maxTokens || (mixed && !padding))) {
      batches.push(cur);
      cur = [];
    }
    cur.push(i);
  }
  if (cur.length) batches.push(cur);
  return batches;
}

export async function forward(dec: Decoder, seqs: number[][], opts: ForwardOptions): Promise<ForwardOutput[]> {
  if (seqs.some((s) => s.length === 0)) throw new EngineError('BAD_REQUEST', 'cannot run an empty token sequence');
  const hooks = resolveHooks(opts.hooks, dec.layers);
  const fetch = [...hooks.map((h) => h.output), ...(opts.logits === 'none' ? [] : ['logits'])];
  const results: ForwardOutput[] = new Array(seqs.length);
  for (const group of planBatches(seqs.map((s) => s.length), opts.maxTokens ?? 8192, dec.io.leftPadding)) {
    throwIfCancelled(opts.signal);
    const width = Math.max(...group.map((i) => seqs[i].length));
    const pads = group.map((i) => width - seqs[i].length);
    const ids = group.map((i, b) => [...new Array(pads[b]).fill(dec.padId), ...seqs[i]]);
    const mask = pads.map((p) => [...new Array(p).fill(0), ...new Array(width - p).fill(1)]);
    // Without 'all', only the last position's logits are computed (when the graph allows it).
    const keep = opts.logits === 'all' ? 0 : 1;
    const { outputs } = await dec.run({ ids, pads, generated: 0 }, mask, dec.emptyPast(group.length), opts.steering, fetch, false, keep);
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
