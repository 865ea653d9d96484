// Direction geometry: cosine similarities between directions (the candidates of one extraction
// across layers and positions, as in Arditi et al.'s appendix; or two direction files of one model
// shape: base vs chat, two prompt sets, two seeds). Pure: the extension host uses it too.
import { EngineError } from '../model/errors';
import type { DirectionsDoc } from './file';
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
