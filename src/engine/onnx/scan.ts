// Reads what a graph file says about its tensors' data without loading the file: a walk over the
// protobuf wire format that seeks past every tensor's raw bytes. Decoding a q4 model with embedded
// weights would otherwise hold the whole file (hundreds of MB) in memory while the inference
// session is built next to it. The walk reaches every TensorProto onnxruntime may load: graph
// initializers and sparse initializers, node attribute tensors (Constant values), subgraphs of
// If/Loop/Scan at any depth, model-local functions and training graphs.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { OnnxFormatError } from './proto';

/** Field numbers from onnx.proto. */
const MODEL = { graph: 7, trainingInfo: 20, functions: 25 };
const TRAINING_INFO = { initialization: 1, algorithm: 2 };
const FUNCTION = { node: 7, attributeProto: 11 };
const GRAPH = { node: 1, initializer: 5, sparseInitializer: 15 };
const NODE = { name: 3, opType: 4, attribute: 5 };
const ATTRIBUTE = { name: 1, t: 5, g: 6, tensors: 10, graphs: 11, sparseTensor: 22, sparseTensors: 23 };
const SPARSE = { values: 1, indices: 2 };
const TENSOR = { dims: 1, dataType: 2, name: 8, rawData: 9, externalData: 13, dataLocation: 14 };
/** float_data, int32_data, string_data, int64_data, double_data, uint64_data. */
const TYPED_DATA = new Set([4, 5, 6, 7, 10, 11]);
const STRING_DATA = 6;
const EXTERNAL = 1;

/** Bits per element of each fixed-size TensorProto.DataType (STRING and unknown types have none). */
const ELEMENT_BITS: Record<number, number> = {
  1: 32, 2: 8, 3: 8, 4: 16, 5: 16, 6: 32, 7: 64, 9: 8, 10: 16, 11: 64, 12: 32, 13: 64, 14: 64, 15: 128, 16: 16,
  17: 8, 18: 8, 19: 8, 20: 8, 21: 4, 22: 4, 23: 4, 24: 8, 25: 2, 26: 2,
};
const TYPE_NAMES: Record<number, string> = { 1: 'float32', 2: 'uint8', 3: 'int8', 6: 'int32', 7: 'int64', 9: 'bool', 10: 'float16', 11: 'float64', 16: 'bfloat16', 21: 'uint4', 22: 'int4' };
export const typeName = (t: number) => TYPE_NAMES[t] ?? `element type ${t}`;

/** ORT's own protobuf parser stops at 100 levels; deeper nesting is refused with a message instead. */
const MAX_DEPTH = 64;
/** Names and entries longer than this are read cut short (the rest is skipped, never allocated). */
const MAX_STRING = 4096;

class Reader {
  private buf = Buffer.alloc(1 << 16);
  private bufStart = 0;
  private bufEnd = 0;
  pos = 0;
  constructor(
    private readonly fd: number,
    readonly size: number,
  ) {}

  private byte(): number {
    if (this.pos >= this.size) throw new Error('unexpected end of file');
    if (this.pos < this.bufStart || this.pos >= this.bufEnd) {
      this.bufStart = this.pos;
      this.bufEnd = this.pos + readSync(this.fd, this.buf, 0, this.buf.length, this.pos);
    }
    return this.buf[this.pos++ - this.bufStart];
  }

  varint(): number {
    let value = 0;
    for (let shift = 0; shift < 64; shift += 7) {
      const b = this.byte();
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
    throw new Error('malformed varint');
  }

  /** The end offset of a length-delimited field starting here. */
  lengthEnd(end: number): number {
    const len = this.varint();
    if (this.pos + len > end) throw new Error('a field runs past its message');
    return this.pos + len;
  }

  string(end: number): string {
    const to = this.lengthEnd(end);
    const out = Buffer.alloc(Math.min(to - this.pos, MAX_STRING));
    readSync(this.fd, out, 0, out.length, this.pos);
    this.pos = to;
    return out.toString('utf8');
  }

  /** Visits each field of the message in [pos, end); `visit` reads it or returns false to skip it. */
  fields(end: number, visit: (field: number, wire: number) => boolean): void {
    while (this.pos < end) {
      const key = this.varint();
      const [field, wire] = [Math.floor(key / 8), key % 8];
      if (visit(field, wire)) continue;
      if (wire === 0) this.varint();
      else if (wire === 1) this.pos += 8;
      else if (wire === 5) this.pos += 4;
      else if (wire === 2) this.pos = this.lengthEnd(end);
      else throw new Error(`unsupported wire type ${wire}`);
    }
    if (this.pos !== end) throw new Error('a field runs past its message');
  }
}

export interface ExternalRef {
  tensor: string;
  /** Where the tensor sits: 'initializer', "node 'c' (Constant) attribute 'value'", '… > initializer' in a subgraph. */
  where: string;
  /** '' when the tensor says its data is external but names no file. */
  location: string;
  offset?: string;
  length?: string;
  /** Bytes the tensor's dims and element type need (undefined for strings and unknown types). */
  bytes?: number;
  /** For messages: "dims [2, 3] of float32". */
  declared: string;
}

/**
 * Why an external-data location can never be a file inside the graph's folder (read from the text
 * alone, before any file exists), or undefined when it may be one.
 */
export function unsafeLocation(location: string): string | undefined {
  if (location === '') return 'is empty';
  if (location.includes('\0')) return 'contains a NUL byte';
  if (path.isAbsolute(location) || /^[a-zA-Z]:/.test(location)) return 'is an absolute path';
  if (location.split(/[\\/]/).includes('..')) return "climbs out of the model folder with '..'";
  return undefined;
}

/**
 * External-data references of every tensor in the file; throws OnnxFormatError on a malformed file
 * or on an embedded tensor whose dims declare more elements than its data holds (a huge declared
 * size would otherwise be allocated before anything checks it).
 */
export function scanExternalData(file: string, what = file): ExternalRef[] {
  const fd = openSync(file, 'r');
  const refs: ExternalRef[] = [];
  let nodes = 0;
  try {
    const r = new Reader(fd, fstatSync(fd).size);
    if (r.size === 0) throw new OnnxFormatError('the file is empty (0 bytes): truncated, e.g. by an interrupted download or copy');

    const tensor = (parentEnd: number, where: string) => {
      const end = r.lengthEnd(parentEnd);
      const dims: number[] = [];
      const entries = new Map<string, string>();
      let [type, name, raw, capacity, location] = [0, '', -1, 0, 0];
      r.fields(end, (f, w) => {
        if (f === TENSOR.dims && w === 0) dims.push(r.varint());
        else if (f === TENSOR.dims && w === 2) {
          const to = r.lengthEnd(end);
          while (r.pos < to) dims.push(r.varint());
        } else if (f === TENSOR.dataType && w === 0) type = r.varint();
        else if (f === TENSOR.dataLocation && w === 0) location = r.varint();
        else if (TYPED_DATA.has(f)) {
          // Each element takes at least half a byte (int4 pairs in int32_data), a string one entry.
          const to = w === 2 ? r.lengthEnd(end) : r.pos;
          capacity += w !== 2 || f === STRING_DATA ? 2 : 2 * (to - r.pos);
          if (w !== 2) return false;
          r.pos = to;
        } else if (w !== 2) return false;
        else if (f === TENSOR.name) name = r.string(end);
        else if (f === TENSOR.rawData) {
          const to = r.lengthEnd(end);
          raw = to - r.pos;
          r.pos = to;
        } else if (f === TENSOR.externalData) {
          const entryEnd = r.lengthEnd(end);
          let [key, value] = ['', ''];
          r.fields(entryEnd, (eField, eWire) => {
            if (eWire !== 2 || (eField !== 1 && eField !== 2)) return false;
            if (eField === 1) key = r.string(entryEnd);
            else value = r.string(entryEnd);
            return true;
          });
          entries.set(key, value);
        } else return false;
        return true;
      });
      const elements = dims.reduce((a, d) => a * d, 1);
      const bits = ELEMENT_BITS[type];
      const bytes = bits === undefined ? undefined : Math.ceil((elements * bits) / 8);
      const declared = `dims [${dims.join(', ')}] of ${typeName(type)}`;
      const label = `tensor '${name}' (${where}) declares ${declared}`;
      if (!Number.isSafeInteger(elements)) throw new OnnxFormatError(`${label}: a negative or impossibly large size`);
      if (location === EXTERNAL || entries.size > 0) {
        refs.push({ tensor: name, where, location: entries.get('location') ?? '', offset: entries.get('offset'), length: entries.get('length'), bytes, declared });
      } else if (raw >= 0 ? bytes !== undefined && bytes > raw : elements > capacity) {
        const holds = raw >= 0 ? `${raw} bytes of raw data` : `data for at most ${capacity} elements`;
        throw new OnnxFormatError(`${label} (${elements} elements) but holds ${holds}; the file is corrupt or crafted`);
      }
    };

    const sparse = (parentEnd: number, where: string) => {
      const end = r.lengthEnd(parentEnd);
      r.fields(end, (f, w) => {
        if (w !== 2 || (f !== SPARSE.values && f !== SPARSE.indices)) return false;
        tensor(end, `${where}, sparse ${f === SPARSE.values ? 'values' : 'indices'}`);
        return true;
      });
    };

    const attribute = (parentEnd: number, where: string, depth: number) => {
      const end = r.lengthEnd(parentEnd);
      let name = '';
      r.fields(end, (f, w) => {
        const at = `${where} attribute '${name}'`;
        if (w !== 2) return false;
        if (f === ATTRIBUTE.name) name = r.string(end);
        else if (f === ATTRIBUTE.t || f === ATTRIBUTE.tensors) tensor(end, at);
        else if (f === ATTRIBUTE.sparseTensor || f === ATTRIBUTE.sparseTensors) sparse(end, at);
        else if (f === ATTRIBUTE.g || f === ATTRIBUTE.graphs) graph(end, `${at} > `, depth + 1);
        else return false;
        return true;
      });
    };

    const node = (parentEnd: number, where: string, depth: number) => {
      const end = r.lengthEnd(parentEnd);
      let [name, opType] = ['', ''];
      r.fields(end, (f, w) => {
        if (w !== 2) return false;
        if (f === NODE.name) name = r.string(end);
        else if (f === NODE.opType) opType = r.string(end);
        else if (f === NODE.attribute) attribute(end, `${where}node '${name}' (${opType})`, depth);
        else return false;
        return true;
      });
    };

    const graph = (parentEnd: number, where: string, depth: number) => {
      if (depth > MAX_DEPTH) throw new OnnxFormatError(`subgraphs are nested more than ${MAX_DEPTH} levels deep (${where.slice(0, 200)}…)`);
      const end = r.lengthEnd(parentEnd);
      r.fields(end, (f, w) => {
        if (w !== 2) return false;
        if (f === GRAPH.node) {
          if (depth === 0) nodes++;
          node(end, where, depth);
        } else if (f === GRAPH.initializer) tensor(end, `${where}initializer`);
        else if (f === GRAPH.sparseInitializer) sparse(end, `${where}sparse initializer`);
        else return false;
        return true;
      });
    };

    const message = (parentEnd: number, visit: (field: number, end: number) => boolean) => {
      const end = r.lengthEnd(parentEnd);
      r.fields(end, (f, w) => w === 2 && visit(f, end));
    };

    r.fields(r.size, (field, wire) => {
      if (wire !== 2) return false;
      if (field === MODEL.graph) graph(r.size, '', 0);
      else if (field === MODEL.trainingInfo) {
        message(r.size, (f, end) => {
          if (f !== TRAINING_INFO.initialization && f !== TRAINING_INFO.algorithm) return false;
          graph(end, 'training graph > ', 1);
          return true;
        });
      } else if (field === MODEL.functions) {
        message(r.size, (f, end) => {
          if (f === FUNCTION.node) node(end, 'function > ', 1);
          else if (f === FUNCTION.attributeProto) attribute(end, 'function default', 1);
          else return false;
          return true;
        });
      } else return false;
      return true;
    });
  } catch (e) {
    if (e instanceof OnnxFormatError) throw new OnnxFormatError(`${what}: ${e.message}`);
    throw new OnnxFormatError(`${what} is not a valid ONNX protobuf (${(e as Error).message}); the file may be truncated or corrupt`);
  } finally {
    closeSync(fd);
  }
  if (nodes === 0) throw new OnnxFormatError(`${what} decoded but holds no graph nodes; expected an ONNX ModelProto with a graph`);
  return refs;
}
