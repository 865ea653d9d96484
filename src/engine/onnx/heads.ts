// Per-head exposure for the heads variant of the instrumented graph (on request only: the default
// graph stays as it is). Found by structure from each layer's attention writer (residual update
// 2l+1), never by node names:
//   - the attention writer's linear projection (o_proj): plain MatMul (fp32/fp16, or a constant
//     DequantizeLinear weight), MatMulNBits (q4/q8 blocks) or DynamicQuantizeLinear + MatMulInteger
//     (q8), with an optional bias; its input z = [b, s, heads·d] becomes output `heads.z.<l>`;
//   - the pattern: a decomposed graph's own Softmax output (`heads.probs.<l>`), or for a fused
//     attention op (GroupQueryAttention, MultiHeadAttention, opset-23 Attention) its q and k inputs
//     (`heads.q.<l>`, `heads.k.<l>`) and rotary caches, from which the engine computes the pattern.
import { GraphIndex } from './graph';
import { DataType, getAttr, node, onnx, OnnxFormatError, toNumber } from './proto';
import type { ResidualStream } from './residual';

/** Where W_O lives and how to read it: the engine dequantizes it (src/engine/heads/weights.ts). */
export type ProjectionWeight =
  | { kind: 'matmul'; weight: string }
  | { kind: 'dequantize'; weight: string; scale: string; zeroPoint?: string; axis: number }
  | { kind: 'int8'; weight: string; scale: string; zeroPoint?: string }
  | { kind: 'nbits'; weight: string; scales: string; zeroPoints?: string; K: number; N: number; bits: number; blockSize: number };

export type PatternSource =
  | { kind: 'softmax'; probs: string }
  | {
      kind: 'fused';
      op: string;
      q: string;
      /** Absent when q, k and v come packed in one input (`heads.q.<l>` then holds all three). */
      k?: string;
      heads: number;
      kvHeads: number;
      scale?: number;
      softcap: number;
      /** Sliding window (keys within the last `window` positions), -1: none. */
      window: number;
      /** Rotary applied inside the op (GroupQueryAttention do_rotary): its caches as outputs. */
      rotary?: { cos: string; sin: string; interleaved: boolean };
    }
  | { kind: 'none'; reason: string };

export interface HeadsLayerMeta {
  /** Output holding the o_proj input z [b, s, heads·d] as float32. */
  z: string;
  /**
   * An RMS norm between o_proj and the residual (Gemma's post-attention norm): at a position it
   * scales by γ / rms(o), linear in the heads for that position's rms, read from `o` (its input).
   */
  postNorm?: { o: string; gamma: string; epsilon: number };
  projection: ProjectionWeight;
  /** o_proj bias initializer, if any. */
  bias?: string;
  pattern: PatternSource;
}

export const headsOutput = (what: 'z' | 'o' | 'probs' | 'q' | 'k' | 'cos' | 'sin', l: number) => `heads.${what}.${l}`;

/** RMS norms without a bias: y = x / rms(x) · γ. */
const RMS_NORMS = new Set(['SimplifiedLayerNormalization', 'RMSNormalization']);

const FUSED = new Set(['GroupQueryAttention', 'MultiHeadAttention', 'Attention']);

/** Finds every layer's attention projection and pattern source and adds the outputs; returns what it exposed. */
export function exposeHeads(graph: onnx.IGraphProto, index: GraphIndex, stream: ResidualStream, heads: number): HeadsLayerMeta[] {
  const added: onnx.INodeProto[] = [];
  const expose = (tensor: string, name: string) => {
    const t = index.elemType(tensor);
    added.push(t === DataType.FLOAT ? node('Identity', [tensor], [name], `expose/${name}`) : node('Cast', [tensor], [name], `expose/${name}`, { to: DataType.FLOAT }));
    graph.output!.push({ name });
    return name;
  };
  const layers = stream.updates.filter((_, k) => k % 2 === 0).map((u, l) => {
    const norm = index.producer.get(throughCasts(index, u.writer))?.node;
    const postNorm = norm && RMS_NORMS.has(norm.opType!) && isInit(index, norm.input![1]) ? norm : undefined;
    const { z, projection, bias } = findProjection(index, throughCasts(index, postNorm ? postNorm.input![0] : u.writer), l);
    const pattern = findPattern(index, z, l, heads);
    const meta: HeadsLayerMeta = {
      z: expose(z, headsOutput('z', l)),
      ...(postNorm ? { postNorm: { o: expose(postNorm.input![0], headsOutput('o', l)), gamma: postNorm.input![1], epsilon: floatAttr(postNorm, 'epsilon') ?? 1e-5 } } : {}),
      projection,
      ...(bias ? { bias } : {}),
      pattern: pattern.source,
    };
    for (const [what, tensor] of pattern.tensors) expose(tensor, headsOutput(what, l));
    return meta;
  });
  graph.node!.push(...added);
  return layers;
}

const isInit = (index: GraphIndex, t: string | undefined) => !!t && index.initializers.has(t);

/** The tensor a chain of Casts starts from (fp16 graphs' fp32 islands around norms). */
function throughCasts(index: GraphIndex, t: string): string {
  for (let p = index.producer.get(t)?.node; p?.opType === 'Cast' && !p.domain; p = index.producer.get(t)?.node) t = p.input![0];
  return t;
}

function findProjection(index: GraphIndex, writer: string, l: number): { z: string; projection: ProjectionWeight; bias?: string } {
  const fail = (what: string) =>
    new OnnxFormatError(`layer ${l}: the attention writer '${writer}' is ${what}, not a linear projection (MatMul, MatMulNBits or MatMulInteger) of the attention output nor an RMS norm of one, so per-head contributions cannot be read`);
  let p = index.producer.get(writer)?.node;
  let bias: string | undefined;
  if (p?.opType === 'Add' && !p.domain) {
    const c = p.input!.findIndex((i) => isInit(index, i));
    if (c < 0) throw fail(`an Add of two computed tensors ('${p.name}')`);
    bias = p.input![c];
    p = index.producer.get(p.input![1 - c])?.node;
  }
  if (!p) throw fail('a graph input');
  if (p.opType === 'MatMul' && !p.domain) {
    const [x, w] = p.input!;
    if (isInit(index, w)) return { z: x, projection: { kind: 'matmul', weight: w }, bias };
    const dq = index.producer.get(w)?.node;
    if (dq?.opType === 'DequantizeLinear' && isInit(index, dq.input![0]) && isInit(index, dq.input![1])) {
      const axis = toNumber(getAttr(dq, 'axis')?.i as number | undefined) || 1;
      return { z: x, projection: { kind: 'dequantize', weight: dq.input![0], scale: dq.input![1], ...(dq.input![2] ? { zeroPoint: dq.input![2] } : {}), axis }, bias };
    }
    throw fail(`a MatMul ('${p.name}') whose weight '${w}' is not a constant`);
  }
  if (p.opType === 'MatMulNBits') {
    const [x, b, scales, zp, gIdx, nbBias] = p.input!;
    if (gIdx) throw fail(`a MatMulNBits ('${p.name}') with g_idx (act-order), which is not supported`);
    const int = (n: string, d?: number) => {
      const a = getAttr(p, n);
      return a ? toNumber(a.i as number) : d!;
    };
    return {
      z: x,
      projection: { kind: 'nbits', weight: b, scales, ...(zp ? { zeroPoints: zp } : {}), K: int('K'), N: int('N'), bits: int('bits', 4), blockSize: int('block_size') },
      bias: nbBias || bias,
    };
  }
  // q8: Mul(Cast(MatMulInteger(xq, Wq, xz, wz)), Mul(x_scale, w_scale)), xq from DynamicQuantizeLinear(x).
  if (p.opType === 'Mul' && !p.domain) {
    for (const [a, s] of [p.input!, [...p.input!].reverse()]) {
      const cast = index.producer.get(a)?.node;
      const mmi = cast?.opType === 'Cast' ? index.producer.get(cast.input![0])?.node : undefined;
      const scales = index.producer.get(s)?.node;
      if (mmi?.opType !== 'MatMulInteger' || scales?.opType !== 'Mul') continue;
      const dql = index.producer.get(mmi.input![0])?.node;
      const wScale = scales.input!.find((i) => isInit(index, i));
      if (dql?.opType !== 'DynamicQuantizeLinear' || !isInit(index, mmi.input![1]) || !wScale) continue;
      return { z: dql.input![0], projection: { kind: 'int8', weight: mmi.input![1], scale: wScale, ...(mmi.input![3] ? { zeroPoint: mmi.input![3] } : {}) }, bias };
    }
  }
  throw fail(`produced by ${p.opType} ('${p.name}')`);
}

const floatAttr = (n: onnx.INodeProto, name: string) => getAttr(n, name)?.f ?? undefined;
const intAttr = (n: onnx.INodeProto, name: string, d: number) => {
  const a = getAttr(n, name);
  return a ? toNumber(a.i as number) : d;
};

/** Nodes between z and the Softmax of a decomposed attention (reshapes, transposes, casts, the value MatMul). */
const SOFTMAX_SEARCH = 12;

function findPattern(index: GraphIndex, z: string, l: number, heads: number): { source: PatternSource; tensors: ['probs' | 'q' | 'k' | 'cos' | 'sin', string][] } {
  const p = index.producer.get(z)?.node;
  if (p && FUSED.has(p.opType!)) {
    const op = `${p.domain ? `${p.domain}.` : ''}${p.opType}`;
    if (p.opType === 'Attention' && p.domain) {
      return { source: { kind: 'none', reason: `layer ${l}'s ${op} computes q and k inside the op (packed weights): its pattern cannot be read` }, tensors: [] };
    }
    const [q, k] = p.input!;
    const numHeads = intAttr(p, p.opType === 'Attention' ? 'q_num_heads' : 'num_heads', heads);
    const kvHeads = intAttr(p, p.opType === 'Attention' ? 'kv_num_heads' : 'kv_num_heads', numHeads);
    const rotary = p.opType === 'GroupQueryAttention' && intAttr(p, 'do_rotary', 0) === 1;
    const tensors: ['probs' | 'q' | 'k' | 'cos' | 'sin', string][] = [['q', q]];
    if (k) tensors.push(['k', k]);
    if (rotary) tensors.push(['cos', p.input![7]], ['sin', p.input![8]]);
    const scale = floatAttr(p, 'scale');
    return {
      source: {
        kind: 'fused',
        op,
        q: headsOutput('q', l),
        ...(k ? { k: headsOutput('k', l) } : {}),
        heads: numHeads,
        kvHeads,
        ...(scale ? { scale } : {}),
        softcap: floatAttr(p, 'softcap') ?? 0,
        window: intAttr(p, 'local_window_size', -1),
        ...(rotary ? { rotary: { cos: headsOutput('cos', l), sin: headsOutput('sin', l), interleaved: intAttr(p, 'rotary_interleaved', 0) === 1 } } : {}),
      },
      tensors,
    };
  }
  // Decomposed: the nearest Softmax upstream of z.
  const seen = new Set<string>([z]);
  let frontier = [z];
  for (let depth = 0; depth < SOFTMAX_SEARCH && frontier.length; depth++) {
    const next: string[] = [];
    for (const t of frontier) {
      const n = index.producer.get(t)?.node;
      if (!n) continue;
      if (n.opType === 'Softmax' && !n.domain) return { source: { kind: 'softmax', probs: headsOutput('probs', l) }, tensors: [['probs', n.output![0]]] };
      for (const i of n.input ?? []) {
        if (!i || index.consts.has(i) || seen.has(i)) continue;
        seen.add(i);
        next.push(i);
      }
    }
    frontier = next;
  }
  return { source: { kind: 'none', reason: `layer ${l}: no Softmax or fused attention op found upstream of the o_proj input '${z}'` }, tensors: [] };
}
