// One onnxruntime session over an instrumented decoder: builds the feeds the graph expects (masks,
// positions, empty caches, steering) from plain token ids and returns plain arrays.
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { counters } from '../diagnostics';
import { STEER_ADD, STEER_BASIS, STEER_MASK } from '../onnx/instrument';
import type { DecoderIO } from '../onnx/io';
import type { Provider } from '../../protocol';
import { ProviderChoice, withProvider } from './providers';
import { maskRow, steeringTensors, SteeringTensors } from './steering';
import { emptyFloat, float32, int64 } from './tensors';

export interface SessionOptions {
  threads?: number;
  provider?: Provider;
}

export function sessionOptions(opts: SessionOptions, weightsDir?: string, providers = ['cpu']): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: providers,
    graphOptimizationLevel: 'all',
    ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
    ...(weightsDir ? { extra: { session: { model_external_initializers_file_folder_path: weightsDir } } } : {}),
  };
}

/**
 * Loads a graph (a file, or its bytes) whose external data lives in `weightsDir` (the instrumented
 * entry or the source folder) on the execution provider asked for, or on CPU when that one cannot start.
 */
export async function openSession(graph: string | Uint8Array, weightsDir: string, opts: SessionOptions): Promise<ProviderChoice & { session: ort.InferenceSession }> {
  const bytes = typeof graph === 'string' ? readFileSync(graph) : graph;
  const opened = await withProvider(opts.provider ?? 'cpu', (providers) => ort.InferenceSession.create(bytes, sessionOptions(opts, weightsDir, providers)));
  counters.sessionsOpened++;
  return opened;
}

export async function createSession(graph: string | Uint8Array, weightsDir: string, opts: SessionOptions): Promise<ort.InferenceSession> {
  return (await openSession(graph, weightsDir, opts)).session;
}

export interface CacheDims {
  kvHeads: number;
  headDim: number;
}

/** A batch chunk: rows of equal length after left padding. */
export interface Chunk {
  ids: number[][];
  /** Padding tokens at the start of each row. */
  pads: number[];
  /** Trailing tokens of each row that were generated (not prompt): they get decode-time steering. */
  generated: number;
}

export type Past = Record<string, ort.Tensor>;

/** The split layout's embedding graph: token ids in, the decoder's inputs_embeds out. */
export interface Embedder {
  session: ort.InferenceSession;
  /** Its output tensor's name. */
  output: string;
}

export class Decoder {
  constructor(
    readonly session: ort.InferenceSession,
    readonly io: DecoderIO,
    readonly layers: number,
    readonly hidden: number,
    readonly cache: CacheDims,
    readonly padId: number,
    /** False for the plain (uninstrumented) graph, used only by doctor. */
    readonly instrumented = true,
    /** Runs first when the decoder takes inputs_embeds (split layout). */
    readonly embedder?: Embedder,
  ) {
    this.noSteering = steeringTensors(undefined, layers, hidden);
  }

  private readonly noSteering: SteeringTensors;
  /** The execution provider the session runs on, and why not the one asked for. */
  provider: ProviderChoice = { provider: 'cpu' };

  emptyPast(batch: number): Past {
    const past: Past = {};
    const type = this.io.cacheElemType === 10 ? 'float16' : 'float32';
    for (const l of this.io.cacheLayers) {
      for (const kind of ['key', 'value']) {
        past[`past_key_values.${l}.${kind}`] = emptyFloat(type, [batch, this.cache.kvHeads, 0, this.cache.headDim]);
      }
    }
    return past;
  }

  /** Releases the decoder's session and the embedding graph's. */
  async release(): Promise<void> {
    await this.session.release();
    await this.embedder?.session.release();
  }

  /**
   * The token feed: input_ids, or (split layout) the embedding graph's output as inputs_embeds. The
   * embedding's write is then writer 0 of the instrumented decoder, so steering covers it.
   */
  private async tokenFeed(ids: ort.Tensor): Promise<Record<string, ort.Tensor>> {
    if (this.io.tokens === 'input_ids') return { input_ids: ids };
    const { session, output } = this.embedder!;
    // Not counted in sessionRuns: it is part of the decoder's run (one step of work).
    const out = await session.run({ input_ids: ids }, [output]);
    return { inputs_embeds: out[output] };
  }

  /** The graph computes logits for the last k positions only when asked (num_logits_to_keep). */
  get keepsLogits(): boolean {
    return this.session.inputNames.includes('num_logits_to_keep');
  }

  /**
   * Runs one chunk. `fullMask` covers past + current tokens for each row (1 = real token).
   * Returns the raw outputs requested in `fetch` plus the new cache when `wantPresent`;
   * `logitsToKeep` > 0 limits logits to the last positions where the graph allows it.
   */
  async run(
    chunk: Chunk,
    fullMask: number[][],
    past: Past,
    steering: SteeringTensors | undefined,
    fetch: string[],
    wantPresent: boolean,
    logitsToKeep = 0,
  ): Promise<{ outputs: Record<string, ort.Tensor>; present: Past }> {
    const batch = chunk.ids.length;
    const seq = chunk.ids[0].length;
    const feeds: Record<string, ort.Tensor> = {
      ...(await this.tokenFeed(int64(chunk.ids.flat(), [batch, seq]))),
      attention_mask: int64(fullMask.flat(), [batch, fullMask[0].length]),
      ...past,
    };
    if (this.io.hasPositionIds) {
      // Positions count real tokens only, so left padding does not shift them (as transformers.js does).
      const pos: number[] = [];
      for (const row of fullMask) {
        let n = 0;
        const all = row.map((m) => (m ? n++ : 1));
        pos.push(...all.slice(all.length - seq));
      }
      feeds.position_ids = int64(pos, [batch, seq]);
    }
    if (this.keepsLogits) feeds.num_logits_to_keep = int64([logitsToKeep], []);
    if (this.instrumented) {
      const s = steering ?? this.noSteering;
      feeds[STEER_BASIS] = float32(s.basis, [this.hidden, s.rank]);
      feeds[STEER_ADD] = float32(s.add, [2 * this.layers + 1, this.hidden]);
      const mask = new Float32Array(batch * seq);
      if (!s.off) {
        chunk.ids.forEach((_, b) => {
          const pad = chunk.pads[b];
          mask.set(maskRow(s.positions, pad, seq - pad - chunk.generated, chunk.generated), b * seq);
        });
      }
      feeds[STEER_MASK] = float32(mask, [batch, seq]);
    }
    const presentNames = wantPresent ? this.io.cacheLayers.flatMap((l) => [`present.${l}.key`, `present.${l}.value`]) : [];
    const outputs = await this.session.run(feeds, [...fetch, ...presentNames]);
    counters.sessionRuns++;
    const present: Past = {};
    for (const name of presentNames) present[name.replace(/^present/, 'past_key_values')] = outputs[name];
    return { outputs, present };
  }
}
