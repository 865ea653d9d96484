// Direction files: a versioned JSON document that carries each direction's vector with the metadata
// needed to use it correctly (which model, layer, position, method, data). Loading checks the
// document against the model it is applied to.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { describeZodError } from '../../protocol';
import { EngineError } from '../model/errors';

export const DIRECTIONS_FORMAT = 'refusal-lens/directions';

const finite = z.number().refine(Number.isFinite, { message: 'must be a finite number' });

export const Direction = z.object({
  name: z.string(),
  /** Layer whose resid_pre the direction was read from. */
  layer: z.number().int().nonnegative(),
  /** Token position it was read at (negative: from the end of the prompt). */
  position: z.number().int(),
  method: z.string(),
  vector: z.array(finite).min(1),
  scores: z.record(z.string(), z.number().nullable()).optional(),
});
export type Direction = z.infer<typeof Direction>;

export const DirectionsDoc = z.object({
  format: z.literal(DIRECTIONS_FORMAT),
  version: z.literal(1),
  model: z.object({ id: z.string(), layers: z.number().int().positive(), hidden: z.number().int().positive() }),
  directions: z.array(Direction).min(1),
  /** Index of the direction used by default (ablation, scoring). */
  selected: z.number().int().nonnegative().default(0),
  datasets: z.record(z.string(), z.string()).optional(),
});
export type DirectionsDoc = z.infer<typeof DirectionsDoc>;

export async function readDirections(path: string): Promise<DirectionsDoc> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new EngineError('BAD_REQUEST', `cannot read direction file ${path}: ${(e as Error).message}`);
  }
  const parsed = DirectionsDoc.safeParse(raw);
  if (!parsed.success) throw new EngineError('BAD_REQUEST', `${path} is not a Refusal Lens direction file: ${describeZodError(parsed.error)}`);
  const doc = parsed.data;
  if (doc.selected >= doc.directions.length) {
    throw new EngineError('BAD_REQUEST', `${path}: selected direction ${doc.selected} does not exist (${doc.directions.length} directions)`);
  }
  doc.directions.forEach((d, i) => {
    if (d.vector.length !== doc.model.hidden) {
      throw new EngineError('BAD_REQUEST', `${path}: direction ${i} has ${d.vector.length} values but the file says hidden size ${doc.model.hidden}`);
    }
  });
  return doc;
}

/** Refuses a direction file made for a model of another shape. */
export function checkDirectionsFit(doc: DirectionsDoc, layers: number, hidden: number, path: string): void {
  if (doc.model.hidden !== hidden || doc.model.layers !== layers) {
    throw new EngineError(
      'BAD_REQUEST',
      `${path} was made for ${doc.model.id} (${doc.model.layers} layers, hidden ${doc.model.hidden}); the loaded model has ${layers} layers, hidden ${hidden}`,
    );
  }
}
