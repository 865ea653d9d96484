// Writes a generated decoder as a transformers.js model folder: config.json, generation_config.json,
// tokenizer files and onnx/model{suffix}.onnx (optionally with weights in onnx/model{suffix}.onnx_data),
// or in the split layout onnx/embed_tokens{suffix}.onnx + onnx/decoder_model_merged{suffix}.onnx with
// the text settings under config.json's text_config, as onnx-community exports of multimodal models.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { externalizeInitializers } from '../engine/onnx/external';
import { encodeModel, type onnx } from '../engine/onnx/proto';
import { embedFileName, onnxFileName, splitDecoderFileName } from '../engine/model/layout';
import type { FixtureDtype } from './builder';
import type { DecoderConfig } from './config';
import { buildDecoder, buildEmbedding, ExportStyle, FixtureLayout } from './decoder';
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
  /** 'split': an embedding graph and a decoder taking inputs_embeds (default 'single'). */
  layout?: FixtureLayout;
  /** Token ids the config names (defaults: the ChatML tokens of makeWordTokenizer). */
  eosId?: number;
  padId?: number;
  bosId?: number;
}

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

/** A multimodal model's config.json: the language model's settings under text_config. */
function multimodalConfigJson(cfg: DecoderConfig, eos: number, pad: number, bos?: number): object {
  return { architectures: ['LlavaForConditionalGeneration'], model_type: 'llava', eos_token_id: eos, pad_token_id: pad, text_config: configJson(cfg, eos, pad, bos), vision_config: { model_type: 'siglip_vision_model' } };
}

/** Returns the path of the written decoder .onnx file. */
export function writeModel(dir: string, opts: WriteOptions): string {
  const eos = opts.eosId ?? 2;
  const pad = opts.padId ?? 0;
  const split = opts.layout === 'split';
  mkdirSync(path.join(dir, 'onnx'), { recursive: true });
  const json = (file: string, value: object) => writeFileSync(path.join(dir, file), JSON.stringify(value, null, 2));
  json('config.json', (split ? multimodalConfigJson : configJson)(opts.config, eos, pad, opts.bosId));
  json('generation_config.json', { eos_token_id: eos, pad_token_id: pad, do_sample: false });
  for (const [file, value] of Object.entries(opts.tokenizer)) {
    if (typeof value === 'string') writeFileSync(path.join(dir, file), value);
    else json(file, value as object);
  }
  const save = (model: onnx.IModelProto, name: string) => {
    const file = path.join(dir, 'onnx', name);
    if (opts.externalData) externalizeInitializers(model, `${file}_data`, 64);
    writeFileSync(file, encodeModel(model));
    return file;
  };
  if (split) save(buildEmbedding(opts.config, opts.weights, opts.style, opts.dtype), embedFileName(opts.dtype));
  const decoder = buildDecoder(opts.config, opts.weights, opts.style, opts.dtype, opts.layout);
  return save(decoder, split ? splitDecoderFileName(opts.dtype) : onnxFileName(opts.dtype));
}
