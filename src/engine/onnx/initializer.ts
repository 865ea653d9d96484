// Reading one initializer's values (embedded raw data, typed fields, or external data relative to
// the weights folder) as numbers, for the few weights the engine itself computes with (W_O).
import { closeSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { halfToFloat } from '../runtime/tensors';
import { DataType, onnx, OnnxFormatError, toNumber } from './proto';
import { unsafeLocation } from './scan';

const BYTES: Record<number, number> = {
  [DataType.FLOAT]: 4,
  [DataType.UINT8]: 1,
  [DataType.INT8]: 1,
  [DataType.FLOAT16]: 2,
  [DataType.INT32]: 4,
  [DataType.BFLOAT16]: 2,
};

function rawBytes(t: onnx.ITensorProto, weightsDir: string, count: number): Uint8Array | undefined {
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    const entries = new Map((t.externalData ?? []).map((e) => [e.key!, e.value!]));
    const location = entries.get('location') ?? '';
    const bad = unsafeLocation(location);
    if (bad) throw new OnnxFormatError(`initializer '${t.name}': its external data location ${JSON.stringify(location)} ${bad}`);
    const offset = Number(entries.get('offset') ?? 0);
    const length = Number(entries.get('length') ?? count * BYTES[t.dataType!]);
    const out = new Uint8Array(length);
    const fd = openSync(path.join(weightsDir, location), 'r');
    try {
      if (readSync(fd, out, 0, length, offset) !== length) throw new OnnxFormatError(`initializer '${t.name}': ${location} ends before its ${length} bytes at offset ${offset}`);
    } finally {
      closeSync(fd);
    }
    return out;
  }
  return t.rawData && t.rawData.byteLength > 0 ? t.rawData : undefined;
}

/** The initializer's elements as float64-exact numbers (float, float16, bfloat16, int8, uint8, int32). */
export function initializerValues(t: onnx.ITensorProto, weightsDir: string): Float64Array {
  const type = t.dataType ?? 0;
  if (!BYTES[type]) throw new OnnxFormatError(`initializer '${t.name}' has element type ${type}, which the engine cannot read`);
  const count = (t.dims ?? []).reduce((a: number, d) => a * toNumber(d), 1);
  const raw = rawBytes(t, weightsDir, count);
  const out = new Float64Array(count);
  if (raw) {
    if (raw.byteLength < count * BYTES[type]) throw new OnnxFormatError(`initializer '${t.name}' holds ${raw.byteLength} bytes, its dims need ${count * BYTES[type]}`);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < count; i++) {
      switch (type) {
        case DataType.FLOAT: out[i] = view.getFloat32(4 * i, true); break;
        case DataType.FLOAT16: out[i] = halfToFloat(view.getUint16(2 * i, true)); break;
        case DataType.BFLOAT16: out[i] = new Float32Array(Uint32Array.of(view.getUint16(2 * i, true) << 16).buffer)[0]; break;
        case DataType.INT8: out[i] = view.getInt8(i); break;
        case DataType.UINT8: out[i] = view.getUint8(i); break;
        default: out[i] = view.getInt32(4 * i, true);
      }
    }
    return out;
  }
  // Typed fields: float_data for float, int32_data for every smaller type (float16 as its bits).
  const fields = type === DataType.FLOAT ? t.floatData : t.int32Data;
  if (!fields || fields.length < count) throw new OnnxFormatError(`initializer '${t.name}' holds ${fields?.length ?? 0} values, its dims need ${count}`);
  for (let i = 0; i < count; i++) {
    const v = fields[i];
    out[i] = type === DataType.FLOAT16 ? halfToFloat(v) : type === DataType.BFLOAT16 ? new Float32Array(Uint32Array.of(v << 16).buffer)[0] : v;
  }
  return out;
}

export function initializerDims(t: onnx.ITensorProto): number[] {
  return (t.dims ?? []).map(toNumber);
}
