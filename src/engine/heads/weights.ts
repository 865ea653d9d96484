// W_O of each layer as the graph holds it, dequantized here (q8 per-tensor or per-column int8,
// DequantizeLinear weights, MatMulNBits blocks of 2..8 bits with or without zero points).
import type { ProjectionWeight } from '../onnx/heads';
import { initializerDims, initializerValues } from '../onnx/initializer';
import { onnx, OnnxFormatError } from '../onnx/proto';

export interface Projection {
  /** [inDim, outDim] row-major (MatMul layout): row i is what input feature i writes. */
  w: Float64Array;
  inDim: number;
  outDim: number;
}

type Lookup = (name: string) => onnx.ITensorProto;

/** Per-tensor (one value) or per-column (outDim values) broadcast along the output axis. */
const perColumn = (v: Float64Array, o: number) => (v.length === 1 ? v[0] : v[o]);

export function readProjection(p: ProjectionWeight, init: Lookup, weightsDir: string): Projection {
  const values = (name: string) => initializerValues(init(name), weightsDir);
  if (p.kind === 'nbits') return dequantizeNBits(p, values);
  const [inDim, outDim] = initializerDims(init(p.weight));
  if (outDim === undefined) throw new OnnxFormatError(`o_proj weight '${p.weight}' is not a matrix`);
  const w = values(p.weight);
  if (p.kind === 'matmul') return { w, inDim, outDim };
  const scale = values(p.scale);
  const zero = p.zeroPoint ? values(p.zeroPoint) : Float64Array.of(0);
  if (p.kind === 'dequantize' && p.axis !== 1 && scale.length !== 1) throw new OnnxFormatError(`o_proj weight '${p.weight}' is dequantized along axis ${p.axis}; only per-tensor or per-output-column scales are supported`);
  for (let i = 0; i < inDim; i++) {
    for (let o = 0; o < outDim; o++) w[i * outDim + o] = (w[i * outDim + o] - perColumn(zero, o)) * perColumn(scale, o);
  }
  return { w, inDim, outDim };
}

/**
 * MatMulNBits: B [N, blocks, blockSize·bits/8] (values packed from the low bits up), scales
 * [N·blocks], zero points packed the same way as B (uint8) or float per block; default 2^(bits−1).
 */
function dequantizeNBits(p: Extract<ProjectionWeight, { kind: 'nbits' }>, values: (name: string) => Float64Array): Projection {
  const { K, N, bits, blockSize } = p;
  if (![2, 4, 8].includes(bits)) throw new OnnxFormatError(`MatMulNBits with ${bits} bits is not supported (2, 4 or 8)`);
  const blocks = Math.ceil(K / blockSize);
  const perByte = 8 / bits;
  const blob = blockSize / perByte;
  const b = values(p.weight);
  const scales = values(p.scales);
  const zp = p.zeroPoints ? values(p.zeroPoints) : undefined;
  // Packed uint8 zero points take ceil(blocks / perByte) bytes per column; float ones one per block.
  const packedZp = zp && zp.length !== N * blocks;
  const zpStride = Math.ceil(blocks / perByte);
  const mask = (1 << bits) - 1;
  const w = new Float64Array(K * N);
  for (let n = 0; n < N; n++) {
    for (let blk = 0; blk < blocks; blk++) {
      const scale = scales[n * blocks + blk];
      const zero = !zp
        ? 2 ** (bits - 1)
        : packedZp
          ? (zp[n * zpStride + Math.floor(blk / perByte)] >> ((blk % perByte) * bits)) & mask
          : zp[n * blocks + blk];
      for (let j = 0; j < blockSize; j++) {
        const k = blk * blockSize + j;
        if (k >= K) break;
        const q = (b[(n * blocks + blk) * blob + Math.floor(j / perByte)] >> ((j % perByte) * bits)) & mask;
        w[k * N + n] = (q - zero) * scale;
      }
    }
  }
  return { w, inDim: K, outDim: N };
}

/** W r for a unit direction r: what one unit of each input feature writes along r. */
export function projectOnto(p: Projection, r: ArrayLike<number>): Float64Array {
  if (r.length !== p.outDim) throw new OnnxFormatError(`o_proj writes ${p.outDim} values, the direction has ${r.length}`);
  const u = new Float64Array(p.inDim);
  for (let i = 0; i < p.inDim; i++) {
    let s = 0;
    for (let o = 0; o < p.outDim; o++) s += p.w[i * p.outDim + o] * r[o];
    u[i] = s;
  }
  return u;
}
