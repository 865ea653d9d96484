// Exports an abliterated model: the instrumented graph with the direction baked in as constants
// (ablation at every writer, i.e. weight orthogonalization done at run time, which needs no
// requantization and leaves tied lm_heads alone), without the residual outputs or steering inputs,
// so plain transformers.js loads and runs it like the original.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ModelInfo } from '../../protocol';
import { EngineError } from '../model/errors';
import { onnxFileName } from '../model/layout';
import { readEntryOf } from '../onnx/cache';
import { STEER_ADD, STEER_BASIS, STEER_MASK } from '../onnx/instrument';
import { decodeModel, encodeModel, f32Tensor } from '../onnx/proto';
import { unit } from './score';

const MODEL_FILES = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja'];

export async function exportAbliterated(info: ModelInfo, vectors: number[][], outDir: string): Promise<string> {
  const entry = await readEntryOf(info.instrumentedFile);
  if (!entry) throw new EngineError('NOT_FOUND', `the instrumented graph ${info.instrumentedFile} is no longer in the cache; load the model again`);
  if (path.resolve(outDir) === path.resolve(info.dir)) throw new EngineError('BAD_REQUEST', 'the export folder must differ from the model folder');
  const H = info.hiddenSize;
  const basis = vectors.map(unit);
  const model = decodeModel(readFileSync(info.instrumentedFile), info.instrumentedFile);
  const graph = model.graph!;
  const rank = basis.length;
  const b = new Float32Array(H * rank);
  basis.forEach((v, j) => v.forEach((x, h) => (b[h * rank + j] = x)));
  graph.input = graph.input!.filter((i) => ![STEER_BASIS, STEER_ADD, STEER_MASK].includes(i.name!));
  graph.initializer!.push(
    f32Tensor(STEER_BASIS, [H, rank], b),
    f32Tensor(STEER_ADD, [2 * info.layers + 1, H], new Float32Array((2 * info.layers + 1) * H)),
    // A [1, 1] mask broadcasts over every batch row and position.
    f32Tensor(STEER_MASK, [1, 1], [1]),
  );
  const resid = new Set(graph.output!.filter((o) => o.name!.startsWith('resid.')).map((o) => o.name!));
  graph.output = graph.output!.filter((o) => !resid.has(o.name!));
  graph.node = graph.node!.filter((n) => !n.output!.some((o) => resid.has(o)));

  const onnxDir = path.join(outDir, 'onnx');
  mkdirSync(onnxDir, { recursive: true });
  // External data moves along under the same relative names (locations stay valid).
  const locations = new Set<string>();
  for (const t of graph.initializer ?? []) {
    const loc = t.externalData?.find((e) => e.key === 'location')?.value;
    if (loc) locations.add(loc);
  }
  for (const loc of locations) copyFileSync(path.join(entry.weightsDir, loc), path.join(onnxDir, loc));
  for (const f of MODEL_FILES) if (existsSync(path.join(info.dir, f))) copyFileSync(path.join(info.dir, f), path.join(outDir, f));
  const file = path.join(onnxDir, onnxFileName(info.dtype));
  writeFileSync(file, encodeModel(model));
  return file;
}
