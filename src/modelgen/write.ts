// Writes a generated decoder as a transformers.js model folder: config.json, generation_config.json,
// tokenizer files and onnx/model{suffix}.onnx (optionally with weights in onnx/model{suffix}.onnx_data).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { externalizeInitializers } from '../engine/onnx/external';
import { encodeModel } from '../engine/onnx/proto';
import { onnxFileName } from '../engine/model/layout';
import type { FixtureDtype } from './builder';
import type { DecoderConfig } from './config';
import { buildDecoder, ExportStyle } from './decoder';
import { TokenizerFiles } from './tokenizer';
import type { DecoderWeights } from './weights';

export interface WriteOptions {
  config: DecoderConfig;
  weights: DecoderWeights;
  /** File name -> JSON value, or text written as it is (a real tokenizer's files). */
  tokenizer: TokenizerFiles | Record<string, string>;
  style: ExportStyle;
  dtype: FixtureDtype;
  /** Keep weights in a separate .onnx_data file, as large real models do. */
  externalData?: boolean;
  /** Token ids the config names (defaults: the ChatML tokens of makeWordTokenizer). */
  eosId?: number;
  padId?: number;
  bosId?: number;
}

const DTYPE_NAME: Record<FixtureDtype, 'fp32' | 'fp16' | 'q8' | 'q4'> = { fp32: 'fp32', fp16: 'fp16', q8: 'q8', q4: 'q4' };

export function configJson(cfg: DecoderConfig, eos: number, pad: number, bos?: number): object {
  return {
    architectures: [cfg.qkvBias ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM'],
    model_type: cfg.qkvBias ? 'qwen2' : 'llama',
    num_hidden_layers: cfg.layers,
    hidden_size: cfg.hidden,
    num_attention_heads: cfg.heads,
    num_key_value_heads: cfg.kvHeads,
    head_dim: cfg.headDim,
    intermediate_size: cfg.intermediate,
    vocab_size: cfg.vocabSize,
    rms_norm_eps: cfg.rmsEps,
    rope_theta: cfg.ropeTheta,
    tie_word_embeddings: cfg.tiedEmbeddings,
    max_position_embeddings: cfg.maxPositions,
    eos_token_id: eos,
    pad_token_id: pad,
    bos_token_id: bos ?? null,
    torch_dtype: 'float32',
  };
}

/** Returns the path of the written .onnx file. */
export function writeModel(dir: string, opts: WriteOptions): string {
  const eos = opts.eosId ?? 2;
  const pad = opts.padId ?? 0;
  mkdirSync(path.join(dir, 'onnx'), { recursive: true });
  const json = (file: string, value: object) => writeFileSync(path.join(dir, file), JSON.stringify(value, null, 2));
  json('config.json', configJson(opts.config, eos, pad, opts.bosId));
  json('generation_config.json', { eos_token_id: eos, pad_token_id: pad, do_sample: false });
  for (const [file, value] of Object.entries(opts.tokenizer)) {
    if (typeof value === 'string') writeFileSync(path.join(dir, file), value);
    else json(file, value as object);
  }
  const model = buildDecoder(opts.config, opts.weights, opts.style, opts.dtype);
  const file = path.join(dir, 'onnx', onnxFileName(DTYPE_NAME[opts.dtype]));
  if (opts.externalData) externalizeInitializers(model, `${file}_data`, 64);
  writeFileSync(file, encodeModel(model));
  return file;
}
