import path from 'node:path';
import { buildAroundTokenizer, buildFixture } from '../../modelgen';
import { parse, positiveInt, UsageError } from '../args';

export const summary = 'write a small random test decoder (no download) in a real export style';

export const help = `refusal-lens fixture --out <dir> [--style torch|genai] [--dtype fp32|fp16|q8|q4] [--layout single|split] [--seed N]
                     [--layers L] [--hidden H] [--tokenizer <dir> [--vocab-size V]]

Writes a small Llama-style decoder with random weights in transformers.js layout: config, word-level
tokenizer with a ChatML chat template, and onnx/model*.onnx in the torch/Optimum or the
onnxruntime-genai export style. For trying the engine without any download.

  --layout split      the layout of onnx-community's multimodal exports instead: onnx/embed_tokens*.onnx
                      then onnx/decoder_model_merged*.onnx taking inputs_embeds, with the text settings
                      under config.json's text_config

  --tokenizer <dir>   use this tokenizer folder instead (tokenizer.json, tokenizer_config.json, any
                      chat_template.jinja, copied as they are): the model's vocabulary is the
                      tokenizer's size, its eos/pad/bos ids the tokenizer's, embeddings tied. Check a
                      chat template with inspect/doctor before downloading a model's weights.
  --vocab-size <V>    embedding rows instead of the tokenizer's size (to mimic a config that disagrees)`;

const OPTIONS = {
  out: { type: 'string' },
  style: { type: 'string', default: 'torch' },
  dtype: { type: 'string', default: 'fp32' },
  layout: { type: 'string', default: 'single' },
  seed: { type: 'string', default: '1' },
  layers: { type: 'string' },
  hidden: { type: 'string' },
  tokenizer: { type: 'string' },
  'vocab-size': { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

export async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, OPTIONS);
  if (!values.out) throw new UsageError('--out is required');
  if (values.style !== 'torch' && values.style !== 'genai') throw new UsageError(`--style must be torch or genai, got '${values.style}'`);
  const dtype = values.dtype as 'fp32' | 'fp16' | 'q8' | 'q4';
  if (!['fp32', 'fp16', 'q8', 'q4'].includes(dtype)) throw new UsageError(`--dtype must be fp32, fp16, q8 or q4, got '${values.dtype}'`);
  if (values.layout !== 'single' && values.layout !== 'split') throw new UsageError(`--layout must be single or split, got '${values.layout}'`);
  const hidden = positiveInt(values.hidden, '--hidden');
  if (hidden !== undefined && (hidden % 32 !== 0 || hidden < 32)) throw new UsageError('--hidden must be a multiple of 32 (q4 blocks, 4 heads)');
  const vocabSize = positiveInt(values['vocab-size'], '--vocab-size');
  if (vocabSize !== undefined && !values.tokenizer) throw new UsageError('--vocab-size needs --tokenizer');
  const opts = {
    style: values.style,
    dtype,
    layout: values.layout,
    seed: positiveInt(values.seed, '--seed'),
    config: { ...(values.layers ? { layers: positiveInt(values.layers, '--layers') } : {}), ...(hidden ? { hidden } : {}), ...(vocabSize ? { vocabSize } : {}) },
  } as const;
  const out = path.resolve(values.out);
  const fx = values.tokenizer ? buildAroundTokenizer(path.resolve(values.tokenizer), out, opts) : buildFixture(out, opts);
  if (values.json) console.log(JSON.stringify({ dir: fx.dir, onnx: fx.onnxPath, layers: fx.config.layers, hidden: fx.config.hidden, vocab_size: fx.config.vocabSize }));
  else console.log(`wrote ${fx.onnxPath} (${values.style} style, ${dtype}, ${values.layout} layout, ${fx.config.layers} layers, hidden ${fx.config.hidden}, vocabulary ${fx.config.vocabSize})`);
  return 0;
}
