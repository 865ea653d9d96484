// From an instrumented graph to a ready Decoder: check that the graph agrees with config.json (its
// declared I/O before onnxruntime sees it, its inferred widths after the session is built) before
// anything runs.
import type { InstrumentedModel } from '../onnx/cache';
import { EngineError } from '../model/errors';
import { outOfMemoryText } from '../outOfMemory';
import { Decoder, openSession, SessionOptions } from './decoder';

export interface DecoderShape {
  layers: number;
  hidden: number;
  kvHeads: number;
  headDim: number;
  vocabSize: number;
}

export async function openDecoder(
  instrumented: InstrumentedModel,
  shape: DecoderShape,
  opts: SessionOptions & { padId: number },
): Promise<Decoder> {
  const { io } = instrumented.meta;
  if (io.tokens !== 'input_ids') {
    throw new EngineError(
      'MODEL_INVALID',
      "the graph takes 'inputs_embeds' (its embedding lives in a separate embed_tokens model); Refusal Lens runs decoders that take 'input_ids'",
    );
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
  let session, choice;
  try {
    ({ session, ...choice } = await openSession(instrumented.path, instrumented.weightsDir, opts));
  } catch (e) {
    // Memory running out is not the graph's fault: the server reports it as OUT_OF_MEMORY, with advice.
    if (outOfMemoryText((e as Error).message)) throw e;
    // The graph passed our checks but not onnxruntime's (unknown or custom ops, bad types, broken weights).
    throw new EngineError('MODEL_INVALID', `onnxruntime cannot load the graph: ${(e as Error).message}`);
  }
  // Widths as onnxruntime infers them: the residual stream (hidden_size) and the logits (vocab_size).
  const checks: [string, string, number][] = [['hidden_size', 'resid.0', shape.hidden], ['vocab_size', 'logits', shape.vocabSize]];
  for (const [field, output, expected] of checks) {
    const meta = session.outputMetadata.find((o) => o.name === output);
    const width = meta && 'shape' in meta ? meta.shape.at(-1) : undefined;
    if (typeof width === 'number' && width !== expected) {
      await session.release();
      throw new EngineError('MODEL_INVALID', `config.json says ${field} ${expected}, but the graph's ${output} output has width ${width}`);
    }
  }
  const decoder = new Decoder(session, io, shape.layers, shape.hidden, { kvHeads, headDim }, opts.padId);
  decoder.provider = choice;
  return decoder;
}
