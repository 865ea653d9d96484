// The transformers.js model-folder layouts: which graph files hold which dtype.
//   single  onnx/model{suffix}.onnx: one decoder taking input_ids (the embedding inside it)
//   split   onnx/embed_tokens{suffix}.onnx + onnx/decoder_model_merged{suffix}.onnx: the embedding
//           graph, then a decoder taking inputs_embeds (onnx-community exports of Gemma-3 4B and
//           larger, and the text decoders of vision-language models)
import type { Dtype } from '../../protocol';

/** File-name suffix per dtype: onnx/model{suffix}.onnx. */
export const DTYPE_SUFFIX: Record<Dtype, string> = {
  fp32: '',
  fp16: '_fp16',
  q8: '_quantized',
  int8: '_int8',
  uint8: '_uint8',
  q4: '_q4',
  q4f16: '_q4f16',
};

export type GraphLayout = 'single' | 'split';

export function onnxFileName(dtype: Dtype): string {
  return `model${DTYPE_SUFFIX[dtype]}.onnx`;
}

export const embedFileName = (dtype: Dtype) => `embed_tokens${DTYPE_SUFFIX[dtype]}.onnx`;
export const splitDecoderFileName = (dtype: Dtype) => `decoder_model_merged${DTYPE_SUFFIX[dtype]}.onnx`;

/** Graph files of one dtype, relative to the onnx/ folder. */
export interface LayoutFiles {
  layout: GraphLayout;
  decoder: string;
  /** The embedding graph (split layout only). */
  embed?: string;
}

/**
 * The layout of `dtype` among the files of an onnx/ folder: the single graph when it exists, else
 * the split pair when both files exist, else undefined. A decoder_model_merged file without its
 * embed_tokens partner is not the split layout (pre-v3 merged decoders are named the same way).
 */
export function detectLayout(files: Set<string>, dtype: Dtype): LayoutFiles | undefined {
  if (files.has(onnxFileName(dtype))) return { layout: 'single', decoder: onnxFileName(dtype) };
  if (files.has(splitDecoderFileName(dtype)) && files.has(embedFileName(dtype))) {
    return { layout: 'split', decoder: splitDecoderFileName(dtype), embed: embedFileName(dtype) };
  }
  return undefined;
}
