import path from 'node:path';
import { exportAbliterated } from '../../engine/directions/export';
import { Engine } from '../../engine/engine';
import { MODEL_HELP, MODEL_OPTIONS, loadParams, parse, stderrProgress, UsageError } from '../args';
import { directionFile } from './direction';

export const summary = 'export an abliterated model: the direction ablated everywhere, runnable by plain transformers.js';

export const help = `refusal-lens export --model <dir> --directions <file> --out <dir>

Writes a model folder (config, tokenizer, onnx/model*.onnx and its weights) whose graph ablates the
selected direction at every layer and position, with no extra inputs or outputs: transformers.js
and any ONNX runtime load it like the original.
${MODEL_HELP}`;

const OPTIONS = { ...MODEL_OPTIONS, directions: { type: 'string' }, out: { type: 'string' } } as const;

export async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, OPTIONS);
  if (!values.directions) throw new UsageError('--directions is required');
  if (!values.out) throw new UsageError('--out is required');
  const direction = await directionFile(values.directions);
  const engine = await Engine.load(loadParams(values), { progress: values.json ? undefined : stderrProgress });
  try {
    const d = direction(engine);
    const file = await exportAbliterated(engine.info, [d.vector], path.resolve(values.out));
    console.log(values.json ? JSON.stringify({ out: path.resolve(values.out), onnx: file }) : `wrote ${file}`);
    return 0;
  } finally {
    await engine.dispose();
  }
}
