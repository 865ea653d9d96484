// Thin helpers over onnx-proto (protobufjs): decoding, encoding and building nodes, tensors and
// value infos. Decoding is zero-copy for raw_data, so large models cost no extra memory until encoded.
import { onnx } from 'onnx-proto';
import { readFileSync } from 'node:fs';

export { onnx };

export const DataType = onnx.TensorProto.DataType;
export const AttrType = onnx.AttributeProto.AttributeType;
export const MS_DOMAIN = 'com.microsoft';

/** protobufjs decodes int64 fields to Long objects (or numbers when small); both become numbers. */
export function toNumber(v: number | { toNumber(): number } | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

export class OnnxFormatError extends Error {}

export function decodeModel(bytes: Uint8Array, what = 'model'): onnx.ModelProto {
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new OnnxFormatError(`${what} is not a valid ONNX protobuf (${(e as Error).message}); the file may be truncated or corrupt`);
  }
  if (!model.graph?.node?.length) {
    throw new OnnxFormatError(`${what} decoded but holds no graph nodes; expected an ONNX ModelProto with a graph`);
  }
  return model;
}

export function readModel(path: string): onnx.ModelProto {
  return decodeModel(readFileSync(path), path);
}

export function encodeModel(model: onnx.IModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

export type AttrValue = number | number[] | string | onnx.ITensorProto | { floats: number[] };

/** Builds an attribute; integers become INT, non-integers FLOAT, arrays INTS (use {floats} for FLOATS). */
export function attr(name: string, value: AttrValue, forceFloat = false): onnx.IAttributeProto {
  if (typeof value === 'string') return { name, type: AttrType.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') {
    return forceFloat || !Number.isInteger(value)
      ? { name, type: AttrType.FLOAT, f: value }
      : { name, type: AttrType.INT, i: value };
  }
  if (Array.isArray(value)) return { name, type: AttrType.INTS, ints: value };
  if ('floats' in value) return { name, type: AttrType.FLOATS, floats: value.floats };
  return { name, type: AttrType.TENSOR, t: value };
}

export function node(
  opType: string,
  inputs: string[],
  outputs: string[],
  name: string,
  attrs: Record<string, AttrValue> = {},
  domain?: string,
): onnx.INodeProto {
  return {
    opType,
    input: inputs,
    output: outputs,
    name,
    domain: domain ?? '',
    attribute: Object.entries(attrs).map(([k, v]) => attr(k, v)),
  };
}

export function getAttr(n: onnx.INodeProto, name: string): onnx.IAttributeProto | undefined {
  return n.attribute?.find((a) => a.name === name);
}

export function tensorFromTyped(
  name: string,
  dims: number[],
  dataType: number,
  data: ArrayBufferView,
): onnx.ITensorProto {
  return {
    name,
    dims,
    dataType,
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

export const f32Tensor = (name: string, dims: number[], data: Float32Array | number[]) =>
  tensorFromTyped(name, dims, DataType.FLOAT, data instanceof Float32Array ? data : Float32Array.from(data));

export const i64Tensor = (name: string, dims: number[], data: number[]) =>
  tensorFromTyped(name, dims, DataType.INT64, BigInt64Array.from(data.map((x) => BigInt(x))));

export type Dim = number | string;

export function valueInfo(name: string, elemType: number, shape: Dim[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** Element type and shape of a typed value info; undefined where the graph leaves it open. */
export function valueInfoShape(vi: onnx.IValueInfoProto): { elemType?: number; shape?: Dim[] } {
  const tt = vi.type?.tensorType;
  if (!tt) return {};
  return {
    elemType: tt.elemType ?? undefined,
    shape: tt.shape?.dim?.map((d) => (d.dimParam ? d.dimParam : toNumber(d.dimValue))),
  };
}

/** Topological order of the nodes (ORT rejects graphs that are not sorted). Stable for sorted input. */
export function topoSort(graph: onnx.IGraphProto): void {
  const nodes = graph.node ?? [];
  const available = new Set<string>(['']);
  for (const i of graph.input ?? []) available.add(i.name ?? '');
  for (const t of graph.initializer ?? []) available.add(t.name ?? '');
  const producerCount = new Map<onnx.INodeProto, number>();
  const waiting = new Map<string, onnx.INodeProto[]>();
  const ready: onnx.INodeProto[] = [];
  for (const n of nodes) {
    const missing = new Set((n.input ?? []).filter((x) => !available.has(x)));
    producerCount.set(n, missing.size);
    for (const m of missing) {
      const list = waiting.get(m) ?? [];
      list.push(n);
      waiting.set(m, list);
    }
    if (missing.size === 0) ready.push(n);
  }
  const order: onnx.INodeProto[] = [];
  // Index-ordered queue keeps the original order where it was already valid.
  const position = new Map(nodes.map((n, i) => [n, i]));
  ready.sort((a, b) => position.get(a)! - position.get(b)!);
  while (ready.length > 0) {
    const n = ready.shift()!;
    order.push(n);
    for (const out of n.output ?? []) {
      if (!out) continue;
      for (const w of waiting.get(out) ?? []) {
        const left = producerCount.get(w)! - 1;
        producerCount.set(w, left);
        if (left === 0) insertSorted(ready, w, position);
      }
      waiting.delete(out);
    }
  }
  if (order.length !== nodes.length) {
    const stuck = nodes.find((n) => !order.includes(n));
    throw new OnnxFormatError(`graph has a cycle or an undefined input near node '${stuck?.name}' (${stuck?.opType})`);
  }
  graph.node = order;
}

function insertSorted(queue: onnx.INodeProto[], n: onnx.INodeProto, position: Map<onnx.INodeProto, number>) {
  const p = position.get(n)!;
  let i = queue.length;
  while (i > 0 && position.get(queue[i - 1])! > p) i--;
  queue.splice(i, 0, n);
}
