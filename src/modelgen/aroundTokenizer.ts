// A random decoder around a real tokenizer folder (its tokenizer files and chat template copied as
// they are): the embedding has one row per token id, so a template and its special tokens can be
// tried with the engine before a model's weights are downloaded.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { EngineError } from '../engine/model/errors';
import { decoderConfig, type DecoderConfig } from './config';
import type { FixtureOptions } from './index';
import { storedWeights } from './quantize';
import { randomWeights, type DecoderWeights } from './weights';
import { writeModel } from './write';

const COPIED = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja', 'chat_template.json'];

export interface TokenizerFolder {
  /** File name -> its text, copied verbatim. */
  files: Record<string, string>;
  /** One more than the largest token id (added tokens included). */
  size: number;
  eosId?: number;
  padId?: number;
  bosId?: number;
}

function readJson(file: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new EngineError('MODEL_INVALID', `${file} is not valid JSON (${(e as Error).message})`);
  }
}

/** Reads a tokenizer folder: its files, its size, and the ids of its eos, pad and bos tokens. */
export function readTokenizerFolder(dir: string): TokenizerFolder {
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) {
    if (!existsSync(path.join(dir, f))) throw new EngineError('MODEL_INVALID', `${f} is missing in ${dir}; a tokenizer folder needs tokenizer.json and tokenizer_config.json`);
  }
  const files = Object.fromEntries(COPIED.filter((f) => existsSync(path.join(dir, f))).map((f) => [f, readFileSync(path.join(dir, f), 'utf8')]));
  const tokenizer = JSON.parse(files['tokenizer.json']) as { model?: { vocab?: unknown }; added_tokens?: { id: number; content: string }[] };
  const config = readJson(path.join(dir, 'tokenizer_config.json'));
  const ids = new Map<string, number>();
  const vocab = tokenizer.model?.vocab;
  // BPE and WordPiece store token -> id; Unigram stores [piece, score] pairs in id order.
  if (Array.isArray(vocab)) vocab.forEach((entry, i) => ids.set(String((entry as unknown[])[0]), i));
  else if (vocab && typeof vocab === 'object') for (const [t, id] of Object.entries(vocab)) ids.set(t, Number(id));
  for (const a of tokenizer.added_tokens ?? []) ids.set(a.content, a.id);
  if (ids.size === 0) throw new EngineError('MODEL_INVALID', `${dir}/tokenizer.json has no vocabulary`);
  const idOf = (key: string) => {
    const v = config[key];
    const content = typeof v === 'string' ? v : typeof v === 'object' && v !== null ? (v as { content?: unknown }).content : undefined;
    return typeof content === 'string' ? ids.get(content) : undefined;
  };
  const eosId = idOf('eos_token');
  let size = 0;
  for (const id of ids.values()) size = Math.max(size, id + 1);
  return { files, size, eosId, padId: idOf('pad_token') ?? eosId, bosId: idOf('bos_token') };
}

export interface AroundTokenizer {
  dir: string;
  onnxPath: string;
  config: DecoderConfig;
  weights: DecoderWeights;
  tokenizer: TokenizerFolder;
}

/**
 * Writes a random decoder whose embedding covers the tokenizer (or `config.vocabSize` rows, to mimic
 * a config that disagrees with its tokenizer). Embeddings are tied by default: real vocabularies make
 * the embedding most of a tiny model.
 */
export function buildAroundTokenizer(tokenizerDir: string, dir: string, opts: FixtureOptions): AroundTokenizer {
  const tokenizer = readTokenizerFolder(tokenizerDir);
  const config = decoderConfig({ tiedEmbeddings: true, ...opts.config, vocabSize: opts.config?.vocabSize ?? tokenizer.size });
  const weights = randomWeights(config, opts.seed ?? 1);
  const onnxPath = writeModel(dir, {
    config,
    weights,
    tokenizer: tokenizer.files,
    style: opts.style,
    dtype: opts.dtype,
    externalData: opts.externalData,
    layout: opts.layout,
    eosId: tokenizer.eosId,
    padId: tokenizer.padId,
    bosId: tokenizer.bosId,
  });
  return { dir, onnxPath, config, weights: storedWeights(config, weights, opts.dtype), tokenizer };
}
