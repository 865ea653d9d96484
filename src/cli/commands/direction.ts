// Loading the direction a command applies: the file's selected direction, checked against the model.
import { checkDirectionsFit, readDirections, templateWarning } from '../../engine/directions/file';
import type { DirectionRef } from '../../engine/directions/evaluate';
import type { Engine } from '../../engine/engine';

export async function selectedDirection(engine: Engine, file: string): Promise<DirectionRef & { name: string }> {
  const doc = await readDirections(file);
  checkDirectionsFit(doc, engine.info.layers, engine.info.hiddenSize, file);
  const warning = templateWarning(doc, engine.info, file);
  if (warning) process.stderr.write(`warning: ${warning}\n`);
  const d = doc.directions[doc.selected];
  return { name: d.name, vector: d.vector, layer: d.layer };
}
