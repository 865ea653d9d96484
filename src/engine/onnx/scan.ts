// Reads what a graph file says about its initializers' external data without loading the file: a
// walk over the protobuf wire format that seeks past every tensor's raw bytes. Decoding a q4 model
// with embedded weights would otherwise hold the whole file (hundreds of MB) in memory while the
// inference session is built next to it.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { OnnxFormatError } from './proto';

/** ModelProto.graph, GraphProto.node / initializer, TensorProto.name / external_data, entry key / value. */
const MODEL_GRAPH = 7;
const GRAPH_NODE = 1;
const GRAPH_INITIALIZER = 5;
const TENSOR_NAME = 8;
const TENSOR_EXTERNAL_DATA = 13;

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
    const out = Buffer.alloc(to - this.pos);
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
  location: string;
}

/** External-data locations of the top-level graph's initializers; throws OnnxFormatError on a malformed file. */
export function scanExternalData(file: string, what = file): ExternalRef[] {
  const fd = openSync(file, 'r');
  const refs: ExternalRef[] = [];
  let nodes = 0;
  try {
    const r = new Reader(fd, fstatSync(fd).size);
    r.fields(r.size, (field, wire) => {
      if (field !== MODEL_GRAPH || wire !== 2) return false;
      r.fields(r.lengthEnd(r.size), (gField, gWire) => {
        if (gField === GRAPH_NODE && gWire === 2) nodes++;
        if (gField !== GRAPH_INITIALIZER || gWire !== 2) return false;
        let tensor = '';
        let location: string | undefined;
        const tensorEnd = r.lengthEnd(r.size);
        r.fields(tensorEnd, (tField, tWire) => {
          if (tWire !== 2) return false;
          if (tField === TENSOR_NAME) tensor = r.string(tensorEnd);
          else if (tField === TENSOR_EXTERNAL_DATA) {
            const entryEnd = r.lengthEnd(tensorEnd);
            let key = '';
            let value = '';
            r.fields(entryEnd, (eField, eWire) => {
              if (eWire !== 2 || (eField !== 1 && eField !== 2)) return false;
              if (eField === 1) key = r.string(entryEnd);
              else value = r.string(entryEnd);
              return true;
            });
            if (key === 'location') location = value;
          } else return false;
          return true;
        });
        if (location !== undefined) refs.push({ tensor, location });
        return true;
      });
      return true;
    });
  } catch (e) {
    throw new OnnxFormatError(`${what} is not a valid ONNX protobuf (${(e as Error).message}); the file may be truncated or corrupt`);
  } finally {
    closeSync(fd);
  }
  if (nodes === 0) throw new OnnxFormatError(`${what} decoded but holds no graph nodes; expected an ONNX ModelProto with a graph`);
  return refs;
}
