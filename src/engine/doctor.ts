// `doctor`: proves on a few prompts that the instrumented graph with steering off computes what the
// original graph computes. The tolerance follows the residual stream's precision.
import { sessionGraph } from './onnx/weights';
import { Decoder, createSession } from './runtime/decoder';
import { forward } from './runtime/forward';

/** Default prompts: short, generic, and different in length so batching and padding are exercised. */
export const DOCTOR_PROMPTS = ['Hello, how are you?', 'Write a short poem about the sea.', 'Explain what a residual stream is in one sentence.'];

/**
 * Residual streams in fp32 (fp32, q8 and q4 exports alike: their activations are fp32) must match
 * to 1e-4. fp16 streams round every activation to 11 significant bits and ORT may fuse the edited
 * graph differently, so allow 4 half-precision ulps of the largest logit (2^-10 relative each).
 */
export function doctorTolerance(writerTypes: number[], maxAbsLogit: number): number {
  return writerTypes.includes(10) ? Math.max(2e-3, 4 * 2 ** -10 * maxAbsLogit) : 1e-4;
}

export interface DoctorReport {
  ok: boolean;
  maxAbsDiff: number;
  tolerance: number;
  prompts: number;
}

export async function compareWithOriginal(
  dec: Decoder,
  originalPath: string,
  seqs: number[][],
  writerTypes: number[],
  threads?: number,
): Promise<DoctorReport> {
  const { bytes, weightsDir } = sessionGraph(originalPath);
  // The original graph runs where the instrumented one runs, so the logits are compared on that provider.
  const plain = await createSession(bytes, weightsDir, { threads, provider: dec.provider.provider });
  try {
    // The split layout's embedding graph has no instrumentation: both decoders share its session.
    const original = new Decoder(plain, dec.io, dec.layers, dec.hidden, dec.cache, dec.padId, false, dec.embedder);
    let maxAbsDiff = 0;
    let maxAbsLogit = 0;
    for (const ids of seqs) {
      const [a] = await forward(original, [ids], { hooks: [], logits: 'all' });
      const [b] = await forward(dec, [ids], { hooks: [], logits: 'all' });
      for (let i = 0; i < a.logits!.length; i++) {
        const d = Math.abs(a.logits![i] - b.logits![i]);
        // NaN anywhere is a failure, not a silently ignored comparison.
        maxAbsDiff = Number.isNaN(d) ? Infinity : Math.max(maxAbsDiff, d);
        maxAbsLogit = Math.max(maxAbsLogit, Math.abs(a.logits![i]));
      }
    }
    const tolerance = doctorTolerance(writerTypes, maxAbsLogit);
    return { ok: maxAbsDiff <= tolerance, maxAbsDiff, tolerance, prompts: seqs.length };
  } finally {
    await plain.release();
  }
}
