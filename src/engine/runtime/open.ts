// From an instrumented graph to a ready Decoder: build the session and check that the graph agrees
// with config.json before anything runs.
import type { InstrumentedModel } from '../onnx/cache';
import { EngineError } from '../model/errors';
import { createSession, Decoder, SessionOptions } from './decoder';

export interface DecoderShape {
  layers: number;
  hidden: number;
  kvHeads: number;
  headDim: number;
}

export async function openDecoder(
  instrumented: InstrumentedModel,
  shape: DecoderShape,
  opts: SessionOptions & { padId: number },
): Promise<Decoder> {
  const session = await createSession(instrumented.path, instrumented.weightsDir, opts);
  const resid = session.outputMetadata.find((m) => m.name === 'resid.0');
  const graphHidden = resid && 'shape' in resid ? resid.shape.at(-1) : undefined;
  if (typeof graphHidden === 'number' && graphHidden !== shape.hidden) {
    await session.release();
    throw new EngineError('MODEL_INVALID', `config.json says hidden_size ${shape.hidden}, but the graph's residual stream has width ${graphHidden}`);
  }
  const { io } = instrumented.meta;
  if (io.tokens !== 'input_ids') {
    await session.release();
    throw new EngineError(
      'MODEL_INVALID',
      "the graph takes 'inputs_embeds' (its embedding lives in a separate embed_tokens model); Refusal Lens runs decoders that take 'input_ids'",
    );
  }
  const dims = io.cacheShape;
  const kvHeads = typeof dims[1] === 'number' ? dims[1] : shape.kvHeads;
  const headDim = typeof dims[3] === 'number' ? dims[3] : shape.headDim;
  if (kvHeads !== shape.kvHeads || headDim !== shape.headDim) {
    await session.release();
    throw new EngineError(
      'MODEL_INVALID',
      `config.json implies a KV cache of ${shape.kvHeads} heads × ${shape.headDim}, but the graph's past_key_values are ${kvHeads} × ${headDim}`,
    );
  }
  return new Decoder(session, io, shape.layers, shape.hidden, { kvHeads, headDim }, opts.padId);
}
