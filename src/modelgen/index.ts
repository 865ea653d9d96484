// Fixture decoders built by the project's own code, for tests, benchmarks and the demo: a seeded
// random (or hand-set) Llama/Qwen2-style model written in a real exporter's style and dtype, with
// the weights it really stores so the reference forward pass is exact.
import path from 'node:path';
import { embedFileName } from '../engine/model/layout';
import type { FixtureDtype } from './builder';
import { decoderConfig, DecoderConfig } from './config';
import type { ExportStyle, FixtureLayout } from './decoder';
import { storedWeights } from './quantize';
import { makeWordTokenizer, vocabulary } from './tokenizer';
import { DecoderWeights, randomWeights } from './weights';
import { writeModel } from './write';

export type { DecoderConfig, DecoderWeights, ExportStyle, FixtureDtype, FixtureLayout };
export { decoderConfig, randomWeights };
export { referenceForward } from './reference';
export { buildAroundTokenizer, readTokenizerFolder } from './aroundTokenizer';

export interface FixtureOptions {
  style: ExportStyle;
  dtype: FixtureDtype;
  seed?: number;
  config?: Partial<DecoderConfig>;
  externalData?: boolean;
  layout?: FixtureLayout;
}

export interface Fixture {
  dir: string;
  /** The decoder graph. */
  onnxPath: string;
  /** The split layout's embedding graph. */
  embedPath?: string;
  config: DecoderConfig;
  /** The values the graph holds (after fp16 rounding or quantization). */
  weights: DecoderWeights;
  vocab: string[];
}

export function buildFixture(dir: string, opts: FixtureOptions): Fixture {
  const vocab = vocabulary();
  const config = decoderConfig({ ...opts.config, vocabSize: vocab.length });
  const weights = randomWeights(config, opts.seed ?? 1);
  const onnxPath = writeModel(dir, { config, weights, tokenizer: makeWordTokenizer(vocab), style: opts.style, dtype: opts.dtype, externalData: opts.externalData, layout: opts.layout });
  const embedPath = opts.layout === 'split' ? path.join(path.dirname(onnxPath), embedFileName(opts.dtype)) : undefined;
  return { dir, onnxPath, ...(embedPath ? { embedPath } : {}), config, weights: storedWeights(config, weights, opts.dtype), vocab };
}
