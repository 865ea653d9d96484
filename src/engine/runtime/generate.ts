// Autoregressive decoding over the instrumented graph, one sequence at a time: prefill once, then
// one token per step with the KV cache (or the whole sequence again when the cache is off, which
// tests use as the reference). Steering applies at every step; cancellation is checked between steps.
import { Decoder, Past } from './decoder';
import { seededRandom } from './random';
import { resolveHooks } from './hooks';
import { SteeringTensors } from './steering';
import { toFloat32 } from './tensors';

export interface SamplingOptions {
  temperature: number;
  topK?: number;
  topP?: number;
  seed: number;
}

export interface GenerateOptions {
  maxNewTokens: number;
  eosIds: number[];
  sampling?: SamplingOptions;
  steering?: SteeringTensors;
  hooks: string[];
  useCache: boolean;
  signal?: AbortSignal;
  /** Called with each new token id as soon as it is chosen. */
  onToken?: (id: number, index: number) => void;
}

export interface GenerateOutput {
  ids: number[];
  stopReason: 'eos' | 'length' | 'cancelled';
  /** Hook -> [steps, hidden]: the residual at the position whose logits chose each token. */
  residuals: Record<string, Float32Array>;
  /** Next-token logits of each step, kept only when asked (tests, KL). */
  stepLogits?: Float32Array[];
}

export function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

/** Temperature, then top-k, then nucleus (top-p) filtering, then one draw. */
export function sample(logits: Float32Array, opts: SamplingOptions, rand: () => number): number {
  let idx = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]);
  if (opts.topK) idx = idx.slice(0, opts.topK);
  const max = logits[idx[0]];
  let probs = idx.map((i) => Math.exp((logits[i] - max) / opts.temperature));
  let total = probs.reduce((a, b) => a + b, 0);
  if (opts.topP !== undefined && opts.topP < 1) {
    let acc = 0;
    let keep = 0;
    while (keep < probs.length && acc < opts.topP * total) acc += probs[keep++];
    idx = idx.slice(0, keep);
    probs = probs.slice(0, keep);
    total = acc;
  }
  let r = rand() * total;
  for (let i = 0; i < idx.length; i++) {
    r -= probs[i];
    if (r <= 0) return idx[i];
  }
  return idx[idx.length - 1];
}

export async function generate(
  dec: Decoder,
  prompt: number[],
  opts: GenerateOptions & { keepLogits?: boolean },
): Promise<GenerateOutput> {
  const hooks = resolveHooks(opts.hooks, dec.layers);
  const fetch = ['logits', ...hooks.map((h) => h.output)];
  const rand = seededRandom(opts.sampling?.seed ?? 0);
  const ids: number[] = [];
  const rows: Record<string, Float32Array[]> = Object.fromEntries(hooks.map((h) => [h.hook, []]));
  const stepLogits: Float32Array[] = [];
  let past: Past = dec.emptyPast(1);
  let stopReason: GenerateOutput['stopReason'] = 'length';
  while (ids.length < opts.maxNewTokens) {
    if (opts.signal?.aborted) {
      stopReason = 'cancelled';
      break;
    }
    const all = [...prompt, ...ids];
    const cached = opts.useCache && ids.length > 0;
    const input = cached ? all.slice(-1) : all;
    const { outputs, present } = await dec.run(
      { ids: [input], pads: [0], generated: cached ? 1 : ids.length },
      [new Array(all.length).fill(1)],
      cached ? past : dec.emptyPast(1),
      opts.steering,
      fetch,
      opts.useCache,
      1,
    );
    past = present;
    // The last row of [1, rows, d]: logits hold only the last position when the graph keeps one.
    const last = (name: string) => {
      const [, seq, d] = outputs[name].dims.map(Number);
      return toFloat32(outputs[name]).slice((seq - 1) * d, seq * d);
    };
    const logits = last('logits');
    for (const h of hooks) rows[h.hook].push(last(h.output));
    if (opts.keepLogits) stepLogits.push(logits);
    const next = opts.sampling ? sample(logits, opts.sampling, rand) : argmax(logits);
    ids.push(next);
    opts.onToken?.(next, ids.length - 1);
    if (opts.eosIds.includes(next)) {
      stopReason = 'eos';
      break;
    }
  }
  const residuals: Record<string, Float32Array> = {};
  for (const [hook, list] of Object.entries(rows)) {
    const out = new Float32Array(list.reduce((a, r) => a + r.length, 0));
    let o = 0;
    for (const r of list) {
      out.set(r, o);
      o += r.length;
    }
    residuals[hook] = out;
  }
  return { ids, stopReason, residuals, ...(opts.keepLogits ? { stepLogits } : {}) };
}
