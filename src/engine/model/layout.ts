// The transformers.js model-folder layout: which graph file holds which dtype.
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

export function onnxFileName(dtype: Dtype): string {
  return `model${DTYPE_SUFFIX[dtype]}.onnx`;
}
