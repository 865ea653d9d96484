// The benchmark's models: random-weight decoders with the exact shape of Qwen2.5-0.5B-Instruct, in
// the torch/Optimum export style most transformers.js models use, written once by the project's own
// fixture code (src/modelgen) and kept outside the repository. Real sizes matter: with tiny fixtures
// every fixed cost looks large and every memory-bound cost looks small.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decoderConfig, randomWeights, type DecoderConfig } from '../src/modelgen';
import { makeWordTokenizer, vocabulary } from '../src/modelgen/tokenizer';
import { writeModel } from '../src/modelgen/write';

/** Qwen2.5-0.5B-Instruct's config.json, numbers only (tied embeddings, q/k/v biases, GQA 14/2). */
export const QWEN25_05B: Partial<DecoderConfig> & { vocabSize: number } = {
  layers: 24,
  hidden: 896,
  heads: 14,
  kvHeads: 2,
  headDim: 64,
  intermediate: 4864,
  vocabSize: 151936,
  rmsEps: 1e-6,
  ropeTheta: 1_000_000,
  tiedEmbeddings: true,
  qkvBias: true,
  maxPositions: 32768,
};

export type BenchDtype = 'fp32' | 'q4';

/** Bumped when the generated files change, so stale caches are rebuilt. */
const MODEL_VERSION = 1;

export const benchCacheDir = () => path.join(process.env.REFUSAL_LENS_CACHE ?? path.join(os.homedir(), '.cache', 'refusal-lens'), 'bench');

export interface BenchModel {
  dir: string;
  config: DecoderConfig;
  /** Bytes of onnx/model{suffix}.onnx plus its external data, per dtype. */
  fileBytes: Record<BenchDtype, number>;
  /** The vocabulary's words after the special tokens and the base English words. */
  words: string[];
}

const files = (dtype: BenchDtype) => (dtype === 'fp32' ? ['model.onnx', 'model.onnx_data'] : ['model_q4.onnx']);

/**
 * Builds the model folder (fp32 with external data, as > 2 GB models ship, and q4 embedded, as
 * q4 exports of this size ship) unless a complete one exists. Written to a temp folder and renamed,
 * so an interrupted build never leaves a half-written model behind.
 */
export function ensureModel(log: (m: string) => void): BenchModel {
  const dir = path.join(benchCacheDir(), `qwen2.5-0.5b-shape-torch-v${MODEL_VERSION}`);
  // The word-level tokenizer's vocabulary padded with synthetic words to the real vocabulary size.
  const base = vocabulary();
  const words = Array.from({ length: QWEN25_05B.vocabSize - base.length }, (_, i) => `w${i}`);
  const config = decoderConfig(QWEN25_05B);
  if (!existsSync(path.join(dir, 'complete'))) {
    const tmp = `${dir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    log(`building the benchmark model once (Qwen2.5-0.5B shape, random weights) in ${dir} ...`);
    const started = Date.now();
    const weights = randomWeights(config, 1);
    const tokenizer = makeWordTokenizer(vocabulary(words));
    writeModel(tmp, { config, weights, tokenizer, style: 'torch', dtype: 'fp32', externalData: true });
    writeModel(tmp, { config, weights, tokenizer, style: 'torch', dtype: 'q4' });
    writeFileSync(path.join(tmp, 'complete'), `${MODEL_VERSION}\n`);
    mkdirSync(path.dirname(dir), { recursive: true });
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
    log(`  built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
  const size = (dtype: BenchDtype) => files(dtype).reduce((a, f) => a + statSync(path.join(dir, 'onnx', f)).size, 0);
  const vocab = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')).vocab_size;
  if (vocab !== config.vocabSize) throw new Error(`${dir} has vocab ${vocab}, expected ${config.vocabSize}; delete it to rebuild`);
  return { dir, config, fileBytes: { fp32: size('fp32'), q4: size('q4') }, words: base.slice(4) };
}
