// A small ONNX graph builder shared by both export styles: it names nodes and outputs the way the
// imitated exporter does, stores weights in the chosen dtype, and expands each linear layer into
// the exact node pattern that dtype's real export uses (MatMul, DynamicQuantizeLinear+MatMulInteger,
// or MatMulNBits).
import { DataType, Dim, f32Tensor, i64Tensor, MS_DOMAIN, node, onnx, tensorFromTyped, topoSort, valueInfo, type AttrValue } from '../engine/onnx/proto';
import { quantizeInt8, quantizeQ4, quantizeUint8, toHalf } from './quantize';

export type FixtureDtype = 'fp32' | 'fp16' | 'q8' | 'q4';

export class GraphBuilder {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];
  readonly inputs: onnx.IValueInfoProto[] = [];
  readonly outputs: onnx.IValueInfoProto[] = [];
  private constants = new Map<string, string>();
  /** q8: one DynamicQuantizeLinear per quantized tensor, shared by the MatMuls that read it. */
  private quantized = new Map<string, string[]>();

  constructor(
    readonly dtype: FixtureDtype,
    /** Output name for output i of node `name` (torch: `name_output_0`, genai: `name/output_0`). */
    readonly outputName: (name: string, i: number) => string,
  ) {}

  /** Element type of activations: fp16 graphs compute in half precision, all others in float. */
  get act(): number {
    return this.dtype === 'fp16' ? DataType.FLOAT16 : DataType.FLOAT;
  }

  op(opType: string, inputs: string[], name: string, attrs: Record<string, AttrValue> = {}, opts: { outputs?: number | string[]; domain?: string } = {}): string[] {
    const outputs = Array.isArray(opts.outputs)
      ? opts.outputs
      : Array.from({ length: opts.outputs ?? 1 }, (_, i) => this.outputName(name, i));
    this.nodes.push(node(opType, inputs, outputs, name, attrs, opts.domain));
    return outputs;
  }

  /** Single-output op. */
  op1(opType: string, inputs: string[], name: string, attrs: Record<string, AttrValue> = {}, domain?: string): string {
    return this.op(opType, inputs, name, attrs, { domain })[0];
  }

  input(name: string, elemType: number, shape: Dim[]): string {
    this.inputs.push(valueInfo(name, elemType, shape));
    return name;
  }

  output(name: string, elemType: number, shape: Dim[]): void {
    this.outputs.push(valueInfo(name, elemType, shape));
  }

  /** A float weight stored in the activation dtype. */
  weight(name: string, dims: number[], data: Float32Array): string {
    this.initializers.push(
      this.act === DataType.FLOAT16 ? tensorFromTyped(name, dims, DataType.FLOAT16, toHalf(data)) : f32Tensor(name, dims, data),
    );
    return name;
  }

  /** A float32 constant regardless of dtype (positions, rotary tables, fp32 islands). */
  f32(name: string, dims: number[], data: number[] | Float32Array): string {
    this.initializers.push(f32Tensor(name, dims, data));
    return name;
  }

  /** A scalar of the activation dtype, shared by value. */
  scalar(value: number): string {
    const key = `act:${value}`;
    if (!this.constants.has(key)) {
      const name = `/model/constants/${this.act === DataType.FLOAT16 ? 'FLOAT16' : 'FLOAT'}/${value}`;
      this.weight(name, [], Float32Array.of(value));
      this.constants.set(key, name);
    }
    return this.constants.get(key)!;
  }

  ints(values: number[], scalar = false): string {
    const key = `i64:${scalar}:${values.join(',')}`;
    if (!this.constants.has(key)) {
      const name = `/model/constants/INT64/${scalar ? '0D' : '1D'}/${values.join(',')}`;
      this.initializers.push(i64Tensor(name, scalar ? [] : [values.length], values));
      this.constants.set(key, name);
    }
    return this.constants.get(key)!;
  }

  /**
   * y = x W (+ b) for W [inDim, outDim] in this builder's dtype. The final node's output keeps the
   * plain MatMul's output name whatever the dtype, as ORT's quantizers do.
   */
  linear(x: string, w: Float32Array, inDim: number, outDim: number, scope: string, weightName: string, bias?: Float32Array): string {
    const mm = `${scope}/MatMul`;
    const out = this.outputName(mm, 0);
    if (this.dtype === 'q8') {
      const { q, scale } = quantizeInt8(w);
      this.initializers.push(tensorFromTyped(`${weightName}_quantized`, [inDim, outDim], DataType.INT8, q));
      this.initializers.push(tensorFromTyped(`${weightName}_zero_point`, [], DataType.INT8, Int8Array.of(0)));
      this.f32(`${weightName}_scale`, [], [scale]);
      if (!this.quantized.has(x)) {
        this.quantized.set(x, this.op('DynamicQuantizeLinear', [x], `${x}_QuantizeLinear`, {}, { outputs: [`${x}_quantized`, `${x}_scale`, `${x}_zero_point`] }));
      }
      const [xq, xs, xz] = this.quantized.get(x)!;
      const mmi = this.op('MatMulInteger', [xq, `${weightName}_quantized`, xz, `${weightName}_zero_point`], `${mm}_quant`, {}, { outputs: [`${out}_output_quantized`] })[0];
      const cast = this.op('Cast', [mmi], `${mm}_quant_output_cast`, { to: DataType.FLOAT }, { outputs: [`${out}_output_quantized_cast_output`] })[0];
      const scales = this.op('Mul', [xs, `${weightName}_scale`], `${mm}_quant_scales_mul`, {}, { outputs: [`${mm}_quant_scales_mul:0`] })[0];
      this.op('Mul', [cast, scales], `${mm}_quant_output_scale_mul`, {}, { outputs: [out] });
    } else if (this.dtype === 'q4') {
      const { b, scales } = quantizeQ4(w, inDim, outDim);
      this.initializers.push(tensorFromTyped(`${weightName}_Q4`, [outDim, inDim / 32, 16], DataType.UINT8, b));
      this.f32(`${weightName}_scales`, [outDim * (inDim / 32)], scales);
      this.op('MatMulNBits', [x, `${weightName}_Q4`, `${weightName}_scales`], `${mm}_Q4`, { K: inDim, N: outDim, bits: 4, block_size: 32, accuracy_level: 0 }, { outputs: [out], domain: MS_DOMAIN });
    } else {
      this.weight(weightName, [inDim, outDim], w);
      this.op('MatMul', [x, weightName], mm, {}, { outputs: [out] });
    }
    if (!bias) return out;
    return this.op1('Add', [this.weight(`${weightName}.bias`, [outDim], bias), out], `${scope}/Add`);
  }

  /** The token embedding table as stored: in the activation dtype, or (q8) uint8 with scale and zero point, like ORT. */
  embeddingTable(table: Float32Array, vocab: number, hidden: number, name: string): void {
    if (this.dtype !== 'q8') {
      this.weight(name, [vocab, hidden], table);
      return;
    }
    const { q, scale, zeroPoint } = quantizeUint8(table);
    this.initializers.push(tensorFromTyped(`${name}_quantized`, [vocab, hidden], DataType.UINT8, q));
    this.f32(`${name}_scale`, [], [scale]);
    this.initializers.push(tensorFromTyped(`${name}_zero_point`, [], DataType.UINT8, Uint8Array.of(zeroPoint)));
  }

  /** Token embedding lookup; q8 dequantizes right after the Gather, like ORT. */
  embedding(ids: string, table: Float32Array, vocab: number, hidden: number, name: string, gatherName: string, out = this.outputName(gatherName, 0)): string {
    this.embeddingTable(table, vocab, hidden, name);
    if (this.dtype !== 'q8') return this.op('Gather', [name, ids], gatherName, {}, { outputs: [out] })[0];
    const gq = this.op('Gather', [`${name}_quantized`, ids], gatherName, {}, { outputs: [`${out}_quantized`] })[0];
    return this.op('DequantizeLinear', [gq, `${name}_scale`, `${name}_zero_point`], `${gatherName}_DequantizeLinear`, {}, { outputs: [out] })[0];
  }

  /** fp16 graphs cast to float where the exporter computes in float, and back; no-ops otherwise. */
  toFloat(x: string, name: string): string {
    return this.act === DataType.FLOAT ? x : this.op1('Cast', [x], name, { to: DataType.FLOAT });
  }

  toAct(x: string, name: string): string {
    return this.act === DataType.FLOAT ? x : this.op1('Cast', [x], name, { to: this.act });
  }

  model(): onnx.IModelProto {
    const graph: onnx.IGraphProto = {
      name: 'refusal-lens-fixture',
      node: this.nodes,
      initializer: this.initializers,
      input: this.inputs,
      output: this.outputs,
    };
    topoSort(graph);
    return {
      irVersion: 8,
      producerName: 'refusal-lens modelgen',
      opsetImport: [
        { domain: '', version: 17 },
        { domain: MS_DOMAIN, version: 1 },
      ],
      graph,
    };
  }
}
