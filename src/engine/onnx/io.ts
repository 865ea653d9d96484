// The transformers.js decoder I/O convention, checked on the graph before any session is built so
// that a model we cannot drive is refused with a message naming what was expected and found.
import { DataType, onnx, OnnxFormatError, valueInfoShape } from './proto';
import { typeName } from './scan';

export interface DecoderIO {
  /** 'input_ids' or 'inputs_embeds'. */
  tokens: 'input_ids' | 'inputs_embeds';
  hasPositionIds: boolean;
  /**
   * False when the attention kernel derives sequence lengths from the mask assuming right padding
   * (GroupQueryAttention): such graphs only run batches of equal length.
   */
  leftPadding: boolean;
  /** Newer exports take a scalar saying how many final positions need logits (0 = all). */
  hasNumLogitsToKeep: boolean;
  /** Layer indices that carry a KV cache, in order. */
  cacheLayers: number[];
  /** Element type of past/present tensors (1 = fp32, 10 = fp16). */
  cacheElemType: number;
  /** Dims of past_key_values.{i}.key as declared ([batch, kv_heads, past_seq, head_dim]). */
  cacheShape: (number | string)[];
}

const PAST = /^past_key_values\.(\d+)\.(key|value)$/;
const PRESENT = /^present\.(\d+)\.(key|value)$/;
/** Recurrent state of hybrid decoders (Qwen3.5's linear attention, LFM2's short convolutions). */
const RECURRENT = /^past_(conv|recurrent|ssm|state)\.(\d+)$/;
const KNOWN_INPUTS = new Set(['input_ids', 'inputs_embeds', 'attention_mask', 'position_ids', 'num_logits_to_keep']);

/** A readable list of names: the first few, then how many more. */
export function listNames(names: string[], max = 8): string {
  const shown = names.slice(0, max).join(', ');
  return names.length > max ? `${shown}, … (${names.length - max} more)` : shown;
}

export function checkDecoderIO(graph: onnx.IGraphProto): DecoderIO {
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const inputs = (graph.input ?? []).filter((i) => !initializers.has(i.name));
  const inputNames = inputs.map((i) => i.name!);
  const outputNames = (graph.output ?? []).map((o) => o.name!);
  const found = `found inputs [${listNames(inputNames)}] and outputs [${listNames(outputNames)}]`;
  const fail = (what: string): never => {
    throw new OnnxFormatError(
      `graph does not follow the transformers.js decoder convention: ${what}. Expected inputs input_ids, attention_mask, ` +
        `optional position_ids and past_key_values.{i}.key|value, and outputs logits and present.{i}.key|value; ${found}`,
    );
  };
  const tokens = inputNames.includes('input_ids') ? 'input_ids' : inputNames.includes('inputs_embeds') ? 'inputs_embeds' : fail('no input_ids');
  if (!inputNames.includes('attention_mask')) fail('no attention_mask input');
  if (!outputNames.includes('logits')) fail('no logits output');
  const state = inputNames.filter((n) => RECURRENT.test(n));
  if (state.length > 0) {
    const layers = [...new Set(state.map((n) => Number(RECURRENT.exec(n)![2])))].sort((a, b) => a - b);
    throw new OnnxFormatError(
      `the decoder is a hybrid whose cache holds recurrent state besides the KV cache: ${state.length} state inputs (${listNames(state.map((u) => `'${u}'`), 4)}) ` +
        `for ${layers.length} convolution or linear-attention layers (${listNames(layers.map(String), 6)}), as in Qwen3.5 and LFM2. Refusal Lens carries ` +
        `only past_key_values.{i}.key|value caches; decoders with past_conv/past_recurrent state are not supported`,
    );
  }
  const unknown = inputNames.filter((n) => !KNOWN_INPUTS.has(n) && !PAST.test(n));
  if (unknown.length > 0) fail(`unsupported inputs ${listNames(unknown.map((u) => `'${u}'`))}`);
  const declared = (name: string) => valueInfoShape([...inputs, ...(graph.output ?? [])].find((v) => v.name === name)!);
  const idsType = declared(tokens).elemType;
  if (tokens === 'input_ids' && idsType !== DataType.INT64) fail(`input_ids must be int64, it is ${typeName(idsType ?? 0)}`);
  // The engine feeds any batch size and prompt length: a fixed dim there could never be met.
  for (const name of [tokens, 'attention_mask', 'position_ids'].filter((n) => inputNames.includes(n))) {
    const shape = declared(name).shape ?? [];
    if (shape.slice(0, 2).some((d) => typeof d === 'number' && d !== 0)) {
      fail(`${name} has fixed shape [${shape.join(', ')}]; its batch and sequence dims must be symbolic`);
    }
  }
  const floatType = (name: string, t: number | undefined) => {
    if (t && t !== DataType.FLOAT && t !== DataType.FLOAT16) fail(`${name} must be float32 or float16, it is ${typeName(t)}`);
  };
  floatType('logits', declared('logits').elemType);

  const past = new Map<number, Set<string>>();
  for (const n of inputNames) {
    const m = PAST.exec(n);
    if (m) past.set(Number(m[1]), (past.get(Number(m[1])) ?? new Set()).add(m[2]));
  }
  const cacheLayers = [...past.keys()].sort((a, b) => a - b);
  for (const l of cacheLayers) {
    if (past.get(l)!.size !== 2) fail(`layer ${l} has only one of past_key_values.${l}.key/value`);
    for (const kind of ['key', 'value']) {
      if (!outputNames.includes(`present.${l}.${kind}`)) fail(`past_key_values.${l}.${kind} has no matching present.${l}.${kind} output`);
    }
  }
  const orphan = outputNames.filter((o) => PRESENT.test(o) && !past.has(Number(PRESENT.exec(o)![1])));
  if (orphan.length > 0) fail(`outputs ${orphan.join(', ')} have no matching past inputs`);
  const first = cacheLayers.length ? valueInfoShape(inputs.find((i) => i.name === `past_key_values.${cacheLayers[0]}.key`)!) : {};
  for (const n of inputNames.filter((i) => PAST.test(i))) floatType(n, declared(n).elemType);
  if (first.shape && first.shape.length !== 4) fail(`past_key_values must be 4-D [batch, kv_heads, past_seq, head_dim], got ${first.shape.length}-D`);
  return {
    tokens,
    hasPositionIds: inputNames.includes('position_ids'),
    hasNumLogitsToKeep: inputNames.includes('num_logits_to_keep'),
    leftPadding: !(graph.node ?? []).some((n) => n.opType === 'GroupQueryAttention'),
    cacheLayers,
    cacheElemType: first.elemType ?? 1,
    cacheShape: first.shape ?? [],
  };
}

export interface EmbedIO {
  /** The graph's only output: the embeddings the decoder takes as inputs_embeds. */
  output: string;
  elemType: number;
  /** Declared width of the output (undefined when symbolic). */
  width?: number;
}

/** The embedding graph of the split layout: input_ids (int64) in, one float [batch, seq, hidden] out. */
export function checkEmbedIO(graph: onnx.IGraphProto): EmbedIO {
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const inputs = (graph.input ?? []).filter((i) => !initializers.has(i.name));
  const outputs = graph.output ?? [];
  const found = `found inputs [${listNames(inputs.map((i) => i.name!))}] and outputs [${listNames(outputs.map((o) => o.name!))}]`;
  const fail = (what: string): never => {
    throw new OnnxFormatError(`the embedding graph ${what}; expected one input input_ids (int64) and one float output inputs_embeds [batch, sequence, hidden]; ${found}`);
  };
  if (inputs.length !== 1 || inputs[0].name !== 'input_ids') fail('does not take input_ids alone');
  if (valueInfoShape(inputs[0]).elemType !== DataType.INT64) fail(`takes input_ids as ${typeName(valueInfoShape(inputs[0]).elemType ?? 0)}`);
  if (outputs.length !== 1) fail(`has ${outputs.length} outputs`);
  const { elemType, shape } = valueInfoShape(outputs[0]);
  if (elemType !== DataType.FLOAT && elemType !== DataType.FLOAT16) fail(`output '${outputs[0].name}' is ${typeName(elemType ?? 0)}, not float32 or float16`);
  if (shape && shape.length !== 3) fail(`output '${outputs[0].name}' is ${shape.length}-D`);
  const width = shape?.[2];
  return { output: outputs[0].name!, elemType: elemType!, ...(typeof width === 'number' ? { width } : {}) };
}
