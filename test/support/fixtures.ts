// Opening fixture models through the engine's own runtime: instrumented (as the engine runs them)
// or plain (the original graph, for comparisons).
import path from 'node:path';
import { instrumentCached } from '../../src/engine/onnx/cache';
import { checkDecoderIO } from '../../src/engine/onnx/io';
import { readModel } from '../../src/engine/onnx/proto';
import { createSession, Decoder } from '../../src/engine/runtime/decoder';
import { openDecoder, openEmbedder } from '../../src/engine/runtime/open';
import { buildFixture, Fixture, FixtureOptions } from '../../src/modelgen';
import { tempDir } from './paths';

export function fixture(opts: FixtureOptions): Fixture {
  return buildFixture(path.join(tempDir(`${opts.style}-${opts.dtype}${opts.layout === 'split' ? '-split' : ''}`), 'model'), opts);
}

export const shapeOf = (fx: Fixture) => ({
  layers: fx.config.layers,
  hidden: fx.config.hidden,
  kvHeads: fx.config.kvHeads,
  headDim: fx.config.headDim,
  vocabSize: fx.config.vocabSize,
});

export async function instrumentedDecoder(fx: Fixture): Promise<Decoder> {
  const inst = await instrumentCached(fx.onnxPath, { ...shapeOf(fx), cacheDir: tempDir('cache') });
  return openDecoder(inst, shapeOf(fx), { padId: 0, embedPath: fx.embedPath });
}

export async function plainDecoder(fx: Fixture): Promise<Decoder> {
  const io = checkDecoderIO(readModel(fx.onnxPath).graph!);
  const session = await createSession(fx.onnxPath, path.dirname(fx.onnxPath), {});
  const embedder = fx.embedPath ? await openEmbedder(fx.embedPath, session, fx.config.hidden, {}) : undefined;
  return new Decoder(session, io, fx.config.layers, fx.config.hidden, { kvHeads: fx.config.kvHeads, headDim: fx.config.headDim }, 0, false, embedder);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/**
 * Cached and uncached greedy decodes must choose the same tokens with logits within `tol`. Dynamic
 * q8 quantizes each activation tensor with its own range, so a one-token cached step and a full
 * re-run are different computations there: compare up to and including the first differing choice.
 */
export function assertSameDecode(
  cached: { ids: number[]; stepLogits?: Float32Array[] },
  full: { ids: number[]; stepLogits?: Float32Array[] },
  dtype: string,
  tol: number,
): void {
  const split = dtype === 'q8' ? cached.ids.findIndex((id, i) => id !== full.ids[i]) : -1;
  if (split === 0) throw new Error('the prefill step is the same computation and must choose the same token');
  if (split < 0 && JSON.stringify(cached.ids) !== JSON.stringify(full.ids)) {
    throw new Error(`decodes differ: ${cached.ids} vs ${full.ids}`);
  }
  const steps = split < 0 ? cached.ids.length : split + 1;
  for (let i = 0; i < steps; i++) {
    const d = maxAbsDiff(cached.stepLogits![i], full.stepLogits![i]);
    if (d > tol) throw new Error(`step ${i}: logits differ by ${d} > ${tol}`);
  }
}
