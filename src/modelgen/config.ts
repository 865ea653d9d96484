// Shape of a generated Llama/Qwen2-style decoder. Every number is a parameter so tests can vary them.
export interface DecoderConfig {
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  vocabSize: number;
  rmsEps: number;
  ropeTheta: number;
  tiedEmbeddings: boolean;
  /** Qwen2-style biases on the q/k/v projections. */
  qkvBias: boolean;
  maxPositions: number;
}

export function decoderConfig(overrides: Partial<DecoderConfig> & { vocabSize: number }): DecoderConfig {
  const hidden = overrides.hidden ?? 64;
  const heads = overrides.heads ?? 4;
  return {
    layers: 4,
    kvHeads: 2,
    intermediate: 2 * hidden,
    rmsEps: 1e-6,
    ropeTheta: 10000,
    tiedEmbeddings: false,
    qkvBias: false,
    maxPositions: 512,
    ...overrides,
    hidden,
    heads,
    headDim: overrides.headDim ?? hidden / heads,
  };
}
