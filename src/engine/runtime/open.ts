// From an instrumented graph to a ready Decoder: check that the graph agrees with config.json (its
// declared I/O before onnxruntime sees it, its inferred widths after the session is built) before
// anything runs.
import path from 'node:path';
import type * as ort from 'onnxruntime-node';
import type { InstrumentedModel } from '../onnx/cache';
import { checkEmbedIO } from '../onnx/io';
import { OnnxFormatError, readModel } from '../onnx/proto';
import { EngineError } from '../model/errors';
import { outOfMemoryText } from '../outOfMemory';
import { Decoder, Embedder, openSession, SessionOptions } from './decoder';
import type { ProviderChoice } from './providers';

export interface DecoderShape {
  layers: number;
  hidden: number;
  kvHeads: number;
  headDim: number;
  vocabSize: number;
}

/** Creates a session, reporting onnxruntime's refusal as the graph's fault (MODEL_INVALID). */
async function loadGraph(graphPath: string, weightsDir: string, opts: SessionOptions, what: string): Promise<ProviderChoice & { session: ort.InferenceSession }> {
  try {
    return await openSession(graphPath, weightsDir, opts);
  } catch (e) {
    // Memory running out is not the graph's fault: the server reports it as OUT_OF_MEMORY, with advice.
    if (outOfMemoryText((e as Error).message)) throw e;
    // The graph passed our checks but not onnxruntime's (unknown or custom ops, bad types, broken weights).
    throw new EngineError('MODEL_INVALID', `onnxruntime cannot load ${what}: ${(e as Error).message}`);
  }
}

/** Element type and last dim of a session's input or output as onnxruntime infers them. */
function described(meta: readonly ort.InferenceSession.ValueMetadata[], name: string): { type?: string; width?: number } {
  const m = meta.find((o) => o.name === name);
  if (!m || !m.isTensor) return {};
  const width = m.shape.at(-1);
  return { type: m.type, ...(typeof width === 'number' ? { width } : {}) };
}

/**
 * The split layout's embedding graph, checked against the decoder it feeds: ids in, one
 * [batch, seq, hidden] output of the element type the decoder's inputs_embeds takes.
 */
export async function openEmbedder(embedPath: string, decoder: ort.InferenceSession, hidden: number, opts: SessionOptions): Promise<Embedder> {
  const where = path.basename(embedPath);
  let io;
  try {
    io = checkEmbedIO(readModel(embedPath).graph!);
  } catch (e) {
    if (e instanceof OnnxFormatError) throw new EngineError('MODEL_INVALID', `${embedPath}: ${e.message}`);
    throw e;
  }
  if (io.width !== undefined && io.width !== hidden) {
    throw new EngineError('MODEL_INVALID', `config.json says hidden_size ${hidden}, but ${where}'s output '${io.output}' has width ${io.width}`);
  }
  const { session } = await loadGraph(embedPath, path.dirname(embedPath), opts, `the embedding graph ${where}`);
  const out = described(session.outputMetadata, io.output);
  const want = described(decoder.inputMetadata, 'inputs_embeds');
  if (out.type && want.type && out.type !== want.type) {
    await session.release();
    throw new EngineError('MODEL_INVALID', `${where} outputs ${out.type} embeddings, but the decoder's inputs_embeds takes ${want.type}: the two graphs are of different dtypes`);
  }
  return { session, output: io.output };
}

export async function openDecoder(
  instrumented: InstrumentedModel,
  shape: DecoderShape,
  opts: SessionOptions & { padId: number; embedPath?: string },
): Promise<Decoder> {
  const { io } = instrumented.meta;
  if (io.tokens === 'inputs_embeds' && !opts.embedPath) {
    throw new EngineError(
      'MODEL_INVALID',
      "the graph takes 'inputs_embeds' but no embedding graph goes with it: the split layout needs onnx/embed_tokens{suffix}.onnx beside onnx/decoder_model_merged{suffix}.onnx, of the same dtype",
    );
  }
  if (io.tokens === 'input_ids' && opts.embedPath) {
    throw new EngineError('MODEL_INVALID', `the decoder takes 'input_ids' itself, so the embedding graph ${opts.embedPath} has no place: a split-layout decoder takes 'inputs_embeds'`);
  }
  const dims = io.cacheShape;
  const kvHeads = typeof dims[1] === 'number' ? dims[1] : shape.kvHeads;
  const headDim = typeof dims[3] === 'number' ? dims[3] : shape.headDim;
  if (kvHeads !== shape.kvHeads || headDim !== shape.headDim) {
    throw new EngineError(
      'MODEL_INVALID',
      `config.json implies a KV cache of ${shape.kvHeads} heads × ${shape.headDim}, but the graph's past_key_values are ${kvHeads} × ${headDim}`,
    );
  }
  const { session, ...choice } = await loadGraph(instrumented.path, instrumented.weightsDir, opts, 'the graph');
  // Widths as onnxruntime infers them: the residual stream (hidden_size) and the logits (vocab_size).
  const checks: [string, string, number][] = [['hidden_size', 'resid.0', shape.hidden], ['vocab_size', 'logits', shape.vocabSize]];
  for (const [field, output, expected] of checks) {
    const { width } = described(session.outputMetadata, output);
    if (width !== undefined && width !== expected) {
      await session.release();
      throw new EngineError('MODEL_INVALID', `config.json says ${field} ${expected}, but the graph's ${output} output has width ${width}`);
    }
  }
  let embedder: Embedder | undefined;
  try {
    embedder = opts.embedPath ? await openEmbedder(opts.embedPath, session, shape.hidden, { ...opts, provider: choice.provider }) : undefined;
  } catch (e) {
    await session.release();
    throw e;
  }
  const decoder = new Decoder(session, io, shape.layers, shape.hidden, { kvHeads, headDim }, opts.padId, true, embedder);
  decoder.provider = choice;
  return decoder;
}
