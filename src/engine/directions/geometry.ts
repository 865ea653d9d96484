// Direction geometry: cosine similarities between directions (the candidates of one extraction
// across layers and positions, as in Arditi et al.'s appendix; or two direction files of one model
// shape: base vs chat, two prompt sets, two seeds), and a direction's logit lens.
import { EngineError } from '../model/errors';
import { forward } from '../runtime/forward';
import type { SteeringTensors } from '../runtime/steering';
import type { DirectionsDoc } from './file';
import type { LoadedModel } from './extract';
import { dot, norm } from './linalg';

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = norm(a) * norm(b);
  return n === 0 ? 0 : dot(a, b) / n;
}

/** Symmetric matrix of pairwise cosines. */
export function cosineMatrix(vectors: ArrayLike<number>[]): number[][] {
  const norms = vectors.map((v) => norm(v));
  return vectors.map((a, i) => vectors.map((b, j) => (i === j ? 1 : norms[i] * norms[j] === 0 ? 0 : dot(a, b) / (norms[i] * norms[j]))));
}

export interface DirectionComparison {
  a: { file: string; model: string; name: string; layer: number };
  b: { file: string; model: string; name: string; layer: number };
  /** cos(selected direction of a, selected direction of b). */
  selected: number;
  /** For every layer at which both files hold a direction (the first there): their cosine. */
  layers: { layer: number; a: string; b: string; cosine: number }[];
}

export function compareDirections(a: DirectionsDoc, b: DirectionsDoc, fileA: string, fileB: string): DirectionComparison {
  if (a.model.hidden !== b.model.hidden || a.model.layers !== b.model.layers) {
    throw new EngineError(
      'BAD_REQUEST',
      `${fileA} was made for ${a.model.id} (${a.model.layers} layers, hidden ${a.model.hidden}) and ${fileB} for ${b.model.id} (${b.model.layers} layers, hidden ${b.model.hidden}): directions of models of different shapes cannot be compared`,
    );
  }
  const [sa, sb] = [a.directions[a.selected], b.directions[b.selected]];
  const layers: DirectionComparison['layers'] = [];
  for (let l = 0; l < a.model.layers; l++) {
    const [da, db] = [a.directions.find((d) => d.layer === l), b.directions.find((d) => d.layer === l)];
    if (da && db) layers.push({ layer: l, a: da.name, b: db.name, cosine: cosine(da.vector, db.vector) });
  }
  return {
    a: { file: fileA, model: a.model.id, name: sa.name, layer: sa.layer },
    b: { file: fileB, model: b.model.id, name: sb.name, layer: sb.layer },
    selected: cosine(sa.vector, sb.vector),
    layers,
  };
}

export interface LensToken {
  id: number;
  token: string;
  /** W_U (γ ⊙ r̂): the logit one unit of r̂ in the final residual adds, through the final norm's weight γ. */
  value: number;
}

export interface LogitLens {
  top: LensToken[];
  bottom: LensToken[];
  method: string;
}

/**
 * The unembedding applied to r̂ through the final norm's weight, run by the model's own graph (any
 * dtype or export style, lm_head quantized or tied): a complete ablation basis replaces every
 * writer's output with its steering addition, so the final residual is exactly √H·r̂, whose RMS is 1
 * and which the final norm turns into γ ⊙ r̂·√H/√(1 + ε); logits divided by √H are W_U (γ ⊙ r̂) up to
 * that ε (1e-6 typically). A final logit soft-cap (Gemma 2) bends the values but keeps their order.
 */
export async function logitLens(model: LoadedModel, vector: number[], k = 10): Promise<LogitLens> {
  const H = model.info.hiddenSize;
  if (vector.length !== H) throw new EngineError('BAD_REQUEST', `the direction has ${vector.length} values, the model's hidden size is ${H}`);
  const n = norm(vector);
  if (!(n > 0) || !Number.isFinite(n)) throw new EngineError('BAD_REQUEST', 'the direction has zero or non-finite norm');
  const basis = new Float32Array(H * H);
  for (let h = 0; h < H; h++) basis[h * H + h] = 1;
  const add = new Float32Array((2 * model.info.layers + 1) * H);
  const scale = Math.sqrt(H) / n;
  vector.forEach((x, h) => (add[h] = x * scale));
  const steering: SteeringTensors = { basis, rank: H, add, positions: 'all', off: false };
  const [out] = await forward(model.decoder, [[model.tokenizer.padId]], { hooks: [], logits: 'last', steering });
  const logits = out.logits!;
  const order = Array.from(logits.keys()).sort((x, y) => logits[y] - logits[x]);
  const pick = (ids: number[]) => {
    const strings = model.tokenizer.tokenStrings(ids);
    return ids.map((id, i) => ({ id, token: strings[i], value: logits[id] / Math.sqrt(H) }));
  };
  return { top: pick(order.slice(0, k)), bottom: pick(order.slice(-k).reverse()), method: 'unembedding of γ ⊙ r̂ through the model graph (final norm weight γ)' };
}
