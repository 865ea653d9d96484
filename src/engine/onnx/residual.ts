// Finds the residual stream of a decoder graph by structure, never by node names: start at the
// token embedding and follow the nodes that add "something computed from the residual" back onto it
// (a plain Add, or the fused Skip*LayerNormalization whose output_3 is the sum). Works on graphs
// without their weights, so it can validate a model before anything heavy is loaded.
import { GraphIndex } from './graph';
import { onnx, OnnxFormatError } from './proto';

const SKIP_NORMS = new Set(['SkipSimplifiedLayerNormalization', 'SkipLayerNormalization']);
/** Ops between the embedding lookup and the residual stream proper (q8 dequant, fp32 island, Gemma scale). */
const EMBED_TAIL = new Set(['DequantizeLinear', 'Cast', 'Mul']);

export interface ResidualUpdate {
  /** Residual entering this update. */
  resid: string;
  /** The sublayer output that is added (where interventions go). */
  writer: string;
  /** Residual after this update. */
  next: string;
  /** The node performing the add. */
  node: onnx.INodeProto;
  /** Set when `next` is the optional output_3 of a fused norm that the graph does not materialize. */
  missingOutput3?: boolean;
}

export interface ResidualStream {
  /** Tensor the embedding writes (writer 0 and resid.0). */
  embed: string;
  embedFrom: 'input_ids' | 'inputs_embeds';
  /** The Gather (or GatherBlockQuantized) reading the token embedding table, when the graph takes input_ids. */
  lookup?: onnx.INodeProto;
  updates: ResidualUpdate[];
  /** Ops that perform the updates, e.g. ['Add'] or ['Add','SkipSimplifiedLayerNormalization']. */
  ops: string[];
}

export function findEmbedding(index: GraphIndex): { tensor: string; from: 'input_ids' | 'inputs_embeds'; lookup?: onnx.INodeProto } {
  let t: string | undefined;
  let lookup: onnx.INodeProto | undefined;
  let from: 'input_ids' | 'inputs_embeds' = 'input_ids';
  if (index.inputs.has('inputs_embeds')) {
    t = 'inputs_embeds';
    from = 'inputs_embeds';
  } else if (index.inputs.has('input_ids')) {
    const ids = new Set(['input_ids']);
    for (const { node } of index.uses('input_ids')) if (node.opType === 'Cast') ids.add(node.output![0]);
    for (const id of ids) {
      for (const { node, index: i } of index.uses(id)) {
        if (i === 1 && (node.opType === 'Gather' || node.opType === 'GatherBlockQuantized')) [t, lookup] = [node.output![0], node];
      }
    }
    if (!t) {
      throw new OnnxFormatError(
        "no token embedding found: expected a Gather (or GatherBlockQuantized) whose indices are the graph input 'input_ids'",
      );
    }
  } else {
    const names = [...index.inputs].join(', ');
    throw new OnnxFormatError(`graph has neither 'input_ids' nor 'inputs_embeds' among its inputs (found: ${names})`);
  }
  for (;;) {
    const transformed = embeddingTransform(index, t);
    if (transformed) {
      t = transformed;
      continue;
    }
    const uses = index.uses(t);
    if (uses.length !== 1) break;
    const n = uses[0].node;
    if (!EMBED_TAIL.has(n.opType!) || n.domain) break;
    if (n.opType === 'Mul' && !n.input!.some((x) => x !== t && index.consts.has(x))) break;
    if (n.opType === 'DequantizeLinear' && uses[0].index !== 0) break;
    t = n.output![0];
  }
  return { tensor: t, from, lookup };
}

/**
 * The nodes computing `x` from `t` and constants alone, or undefined when `x` depends on anything
 * else (another graph input): a transform of the embedding by itself, not a layer.
 */
function coneFrom(index: GraphIndex, t: string, x: string): Set<onnx.INodeProto> | undefined {
  const cone = new Set<onnx.INodeProto>();
  const visit = (y: string): boolean => {
    if (y === t || index.consts.has(y) || y === '') return true;
    const p = index.producer.get(y)?.node;
    if (!p || p.opType === 'Shape') return false;
    if (cone.has(p)) return true;
    cone.add(p);
    return p.input!.every(visit);
  };
  return visit(x) ? cone : undefined;
}

/**
 * An exported abliteration removes the direction from the embedding right after the lookup:
 * t − f(t) with f computed from t alone. That is still the embedding the residual stream starts from.
 */
function embeddingTransform(index: GraphIndex, t: string): string | undefined {
  const uses = index.uses(t);
  for (const { node, index: i } of uses) {
    if (!((node.opType === 'Sub' || node.opType === 'Add') && !node.domain && i === 0)) continue;
    const cone = coneFrom(index, t, node.input![1]);
    if (cone && uses.every((u) => u.node === node || cone.has(u.node))) return node.output![0];
  }
  return undefined;
}

/** t plus every tensor reached from it through chains of Cast nodes (fp16 models with fp32 norms). */
function aliases(index: GraphIndex, t: string): string[] {
  const out = [t];
  for (let i = 0; i < out.length; i++) {
    for (const { node } of index.uses(out[i])) if (node.opType === 'Cast') out.push(node.output![0]);
  }
  return out;
}

export function findResidualStream(graph: onnx.IGraphProto, index = new GraphIndex(graph)): ResidualStream {
  if (index.inputs.has('use_cache_branch')) {
    throw new OnnxFormatError(
      "graph takes 'use_cache_branch' (a pre-v3 merged decoder whose layers sit inside If subgraphs); expected a transformers.js v3+ decoder (onnx/model*.onnx)",
    );
  }
  const embed = findEmbedding(index);
  const updates: ResidualUpdate[] = [];
  const ops = new Set<string>();
  let t = embed.tensor;
  for (;;) {
    const producer = index.producer.get(t)?.node;
    // A fused norm computes the next sublayer's input from output_0, a sibling of the residual output_3.
    const starts = producer && SKIP_NORMS.has(producer.opType!) ? producer.output!.filter(Boolean) : [t];
    const found: ResidualUpdate[] = [];
    for (const a of aliases(index, t)) {
      for (const { node, index: i } of index.uses(a)) {
        const isAdd = node.opType === 'Add' && !node.domain && i >= 0;
        const isSkip = SKIP_NORMS.has(node.opType!) && i >= 0 && i < 2;
        if (!isAdd && !isSkip) continue;
        const writer = node.input![1 - i];
        if (!writer || index.consts.has(writer) || !index.reaches(starts, writer)) continue;
        if (isSkip) {
          if (node.input!.length > 3 && node.input![3] && node.opType === 'SkipSimplifiedLayerNormalization') {
            throw new OnnxFormatError(`fused norm '${node.name}' adds a bias to the residual; this layout is not supported`);
          }
          const out3 = node.output![3];
          found.push({ resid: t, writer, node, next: out3 || `${node.name}/resid_out`, missingOutput3: !out3 });
        } else {
          found.push({ resid: t, writer, node, next: node.output![0] });
        }
      }
    }
    if (found.length === 0) break;
    if (new Set(found.map((f) => f.next)).size > 1) {
      const names = found.map((f) => `'${f.node.name}' (${f.node.opType})`).join(', ');
      throw new OnnxFormatError(`residual stream is ambiguous after tensor '${t}': several nodes add to it: ${names}`);
    }
    updates.push(found[0]);
    ops.add(found[0].node.opType!);
    if (found[0].missingOutput3) break; // the final fused norm: nothing consumes the sum
    t = found[0].next;
  }
  return { embed: embed.tensor, embedFrom: embed.from, lookup: embed.lookup, updates, ops: [...ops].sort() };
}
