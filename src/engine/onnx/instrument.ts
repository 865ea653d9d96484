// Edits a decoder graph once so that every residual tensor is a graph output and three runtime
// inputs steer the stream. Interventions sit at the "writers" (the embedding and every sublayer
// output added to the residual), so ablation there equals ablating the residual at every layer:
//
//   out_k = w_k + mask ⊙ (steer_add[k] − (w_k B) Bᵀ)
//
//   steer_basis [H, K]  orthonormal basis of the ablated subspace (zeros: no ablation)
//   steer_add   [2L+1, H] vector added by writer k, i.e. into resid.k (zeros: no addition)
//   steer_mask  [batch, seq] 1 where interventions apply (token positions)
//
// With all-zero steering out_k = w_k + 0 exactly, so logits are unchanged.
import { GraphIndex, implicitInputs } from './graph';
import { checkDecoderIO, DecoderIO } from './io';
import { exposeHeads, HeadsLayerMeta } from './heads';
import { DataType, i64Tensor, MS_DOMAIN, node, onnx, OnnxFormatError, toNumber, topoSort, valueInfo } from './proto';
import { findResidualStream, ResidualStream } from './residual';

/** Bumped whenever the edit changes, so cached instrumented graphs are rebuilt. */
export const INSTRUMENT_VERSION = 3;

export const STEER_BASIS = 'steer_basis';
export const STEER_ADD = 'steer_add';
export const STEER_MASK = 'steer_mask';
export const residOutput = (k: number) => `resid.${k}`;

export interface InstrumentMeta {
  version: number;
  layers: number;
  hidden: number;
  /** 2·layers: one attention and one MLP update per layer. */
  updates: number;
  residualOps: string[];
  embedFrom: 'input_ids' | 'inputs_embeds';
  /** Element type the writers compute in (1 fp32, 10 fp16). */
  writerTypes: number[];
  writers: string[];
  io: DecoderIO;
  /** The heads variant (instrument(..., { heads })): per-layer o_proj inputs and pattern sources. */
  heads?: HeadsLayerMeta[];
}

export function checkStream(stream: ResidualStream, layers: number): void {
  if (stream.updates.length === 2 * layers) return;
  const last = stream.updates.at(-1);
  const where = last ? `; the walk stopped after '${last.node.name}' (${last.node.opType})` : ' after the embedding';
  throw new OnnxFormatError(
    `found ${stream.updates.length} residual updates but config.json declares ${layers} layers (expected ${2 * layers}: ` +
      `one attention and one MLP add per layer)${where}. Parallel-block or non-residual architectures are not supported`,
  );
}

/**
 * A plain (not block-quantized) embedding table is [vocab, hidden]: a config.json that disagrees is
 * refused here, naming both, before onnxruntime fails on the steering MatMuls with a shape error.
 */
function checkEmbeddingWidth(stream: ResidualStream, index: GraphIndex, hidden: number): void {
  const table = stream.lookup?.opType === 'Gather' ? index.initializers.get(stream.lookup.input![0]) : undefined;
  const dims = table?.dims?.map(toNumber);
  if (dims?.length === 2 && dims[1] !== hidden) {
    throw new OnnxFormatError(`config.json says hidden_size ${hidden}, but the graph's token embedding table is ${dims[0]} × ${dims[1]}`);
  }
}

/** `opts.heads` (the model's query heads) also exposes each layer's o_proj input and attention pattern source. */
export function instrument(model: onnx.IModelProto, layers: number, hidden: number, opts: { heads?: number } = {}): InstrumentMeta {
  const graph = model.graph!;
  if (graph.input!.some((i) => i.name === STEER_BASIS)) {
    throw new OnnxFormatError(`graph already has a '${STEER_BASIS}' input: it is an instrumented graph, load the original model instead`);
  }
  const io = checkDecoderIO(graph);
  const index = new GraphIndex(graph);
  const stream = findResidualStream(graph, index);
  checkStream(stream, layers);
  checkEmbeddingWidth(stream, index, hidden);
  const heads = opts.heads ? exposeHeads(graph, index, stream, opts.heads) : undefined;

  const writers = [stream.embed, ...stream.updates.map((u) => u.writer)];
  const writerTypes = writers.map((w) => index.elemType(w) ?? 0);
  writerTypes.forEach((t, k) => {
    if (t !== DataType.FLOAT && t !== DataType.FLOAT16) {
      throw new OnnxFormatError(`residual writer '${writers[k]}' has element type ${t || 'unknown'}; only float32 and float16 residual streams are supported`);
    }
  });
  for (const u of stream.updates) {
    if (u.missingOutput3) u.node.output = [u.node.output![0] ?? '', '', '', u.next];
  }

  const added: onnx.INodeProto[] = [];
  const inits: onnx.ITensorProto[] = [];
  const n = writers.length;
  graph.input!.push(
    valueInfo(STEER_BASIS, DataType.FLOAT, [hidden, 'steer_rank']),
    valueInfo(STEER_ADD, DataType.FLOAT, [n, hidden]),
    valueInfo(STEER_MASK, DataType.FLOAT, ['batch_size', 'sequence_length']),
  );
  const opset = toNumber(model.opsetImport?.find((o) => !o.domain)?.version ?? 13);
  added.push(node('Transpose', [STEER_BASIS], ['steer/basisT'], 'steer/basisT', { perm: [1, 0] }));
  if (opset >= 13) {
    inits.push(i64Tensor('steer/axis_last', [1], [-1]));
    added.push(node('Unsqueeze', [STEER_MASK, 'steer/axis_last'], ['steer/mask3'], 'steer/mask3'));
  } else {
    added.push(node('Unsqueeze', [STEER_MASK], ['steer/mask3'], 'steer/mask3', { axes: [-1] }));
  }
  // fp16 writers get fp16 copies of the steering tensors, made once.
  const typed = new Map<string, string>();
  const asType = (tensor: string, elemType: number) => {
    if (elemType === DataType.FLOAT) return tensor;
    const key = `${tensor}/as${elemType}`;
    if (!typed.has(key)) {
      added.push(node('Cast', [tensor], [key], key, { to: elemType }));
      typed.set(key, key);
    }
    return key;
  };

  writers.forEach((w, k) => {
    const t = writerTypes[k];
    const p = `steer/w${k}`;
    inits.push(i64Tensor(`${p}/index`, [], [k]));
    const out = `${p}/out`;
    added.push(
      node('MatMul', [w, asType(STEER_BASIS, t)], [`${p}/dot`], `${p}/dot`),
      node('MatMul', [`${p}/dot`, asType('steer/basisT', t)], [`${p}/proj`], `${p}/proj`),
      node('Gather', [asType(STEER_ADD, t), `${p}/index`], [`${p}/add`], `${p}/add`, { axis: 0 }),
      node('Sub', [`${p}/add`, `${p}/proj`], [`${p}/delta`], `${p}/delta`),
      node('Mul', [`${p}/delta`, asType('steer/mask3', t)], [`${p}/masked`], `${p}/masked`),
      node('Add', [w, `${p}/masked`], [out], out),
    );
    rewire(graph, w, out, new Set([`${p}/dot`, out]));
  });

  const resid = [`steer/w0/out`, ...stream.updates.map((u) => u.next)];
  resid.forEach((r, k) => {
    const isF32 = (k === 0 ? writerTypes[0] : index.elemType(r) ?? writerTypes[k]) === DataType.FLOAT;
    added.push(
      isF32
        ? node('Identity', [r], [residOutput(k)], `expose/${k}`)
        : node('Cast', [r], [residOutput(k)], `expose/${k}`, { to: DataType.FLOAT }),
    );
    graph.output!.push({ name: residOutput(k) });
  });

  graph.node!.push(...added);
  graph.initializer!.push(...inits);
  if (!io.hasNumLogitsToKeep && addNumLogitsToKeep(graph, opset)) io.hasNumLogitsToKeep = true;
  if (stream.ops.some((o) => o.startsWith('Skip')) && !model.opsetImport!.some((o) => o.domain === MS_DOMAIN)) {
    model.opsetImport!.push({ domain: MS_DOMAIN, version: 1 });
  }
  topoSort(graph);
  return {
    version: INSTRUMENT_VERSION,
    layers,
    hidden,
    updates: stream.updates.length,
    residualOps: stream.ops,
    embedFrom: stream.embedFrom,
    writerTypes,
    writers,
    io,
    ...(heads ? { heads } : {}),
  };
}

export const NUM_LOGITS_TO_KEEP = 'num_logits_to_keep';

/** Ops that act on each position independently, when all their other inputs are constants. */
const PER_POSITION = new Set(['Cast', 'Identity', 'Mul', 'Div', 'Add', 'Sub', 'Tanh']);
const LM_HEAD = new Set(['MatMul', 'MatMulNBits', 'Gemm', 'FusedMatMul']);

/**
 * Gives a graph without it the `num_logits_to_keep` input of newer exports (0 = logits at every
 * position, k = the last k): a Slice of the lm_head's input. The lm_head of a 150k-word vocabulary
 * is a quarter of a 0.5B model's FLOPs, and all-position logits of a large batch take gigabytes,
 * while scoring, extraction and decoding need the last position only. Found by walking back from
 * `logits` through per-position ops to the lm_head; graphs where that walk fails keep all logits.
 */
function addNumLogitsToKeep(graph: onnx.IGraphProto, opset: number): boolean {
  if (opset < 13) return false;
  const index = new GraphIndex(graph);
  let t = 'logits';
  for (;;) {
    const p = index.producer.get(t)?.node;
    if (!p) return false;
    if (LM_HEAD.has(p.opType!)) break;
    const dynamic = (p.input ?? []).filter((i) => i && !index.consts.has(i));
    if (!PER_POSITION.has(p.opType!) || dynamic.length !== 1) return false;
    t = dynamic[0];
  }
  const lmHead = index.producer.get(t)!.node;
  const h = lmHead.input![0];
  graph.input!.push(valueInfo(NUM_LOGITS_TO_KEEP, DataType.INT64, []));
  graph.initializer!.push(i64Tensor('logits_keep/axes', [1], [1]), i64Tensor('logits_keep/end', [1], [Number.MAX_SAFE_INTEGER]), i64Tensor('logits_keep/axis0', [1], [0]));
  graph.node!.push(
    node('Unsqueeze', [NUM_LOGITS_TO_KEEP, 'logits_keep/axis0'], ['logits_keep/count'], 'logits_keep/count'),
    node('Neg', ['logits_keep/count'], ['logits_keep/start'], 'logits_keep/start'),
    node('Slice', [h, 'logits_keep/start', 'logits_keep/end', 'logits_keep/axes'], ['logits_keep/hidden'], 'logits_keep/hidden'),
  );
  lmHead.input![0] = 'logits_keep/hidden';
  return true;
}

/** Points every reader of `from` (including If/Loop bodies) at `to`, except the nodes named in `keep`. */
function rewire(graph: onnx.IGraphProto, from: string, to: string, keep: Set<string>): void {
  for (const n of graph.node ?? []) {
    if (keep.has(n.name!)) continue;
    n.input = n.input!.map((i) => (i === from ? to : i));
    if (implicitInputs(n).includes(from)) {
      for (const a of n.attribute ?? []) for (const g of [a.g, ...(a.graphs ?? [])]) if (g) rewire(g, from, to, keep);
    }
  }
  for (const o of graph.output ?? []) {
    if (o.name === from) {
      throw new OnnxFormatError(`residual writer '${from}' is itself a graph output; cannot intervene on it`);
    }
  }
}
