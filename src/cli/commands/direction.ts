// Loading the direction a command applies: the file is read before the model loads (a missing or
// bad file fails at once, not after a long load), then its selected direction is checked against the
// model (shape, model id, chat-template variables).
import { checkDirectionsFit, readDirections, templateWarning } from '../../engine/directions/file';
import type { DirectionRef } from '../../protocol';
import type { Engine } from '../../engine/engine';

export async function directionFile(file: string): Promise<(engine: Engine) => DirectionRef & { name: string }> {
  const doc = await readDirections(file);
  return (engine) => {
    for (const warning of [checkDirectionsFit(doc, engine.info, file), templateWarning(doc, engine.info, file)]) {
      if (warning) process.stderr.write(`warning: ${warning}\n`);
    }
    const d = doc.directions[doc.selected];
    return { name: d.name, vector: d.vector, layer: d.layer };
  };
}
