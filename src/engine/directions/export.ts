// Exports an abliterated model: the instrumented graph with the direction baked in as constants
// (ablation at every writer, i.e. weight orthogonalization done at run time, which needs no
// requantization and leaves tied lm_heads alone), without the residual outputs or steering inputs,
// so plain transformers.js loads and runs it like the original, and Refusal Lens can study it again.
import { createReadStream, createWriteStream, existsSync, promises as fs, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ModelInfo } from '../../protocol';
import { removeOrphans } from '../atomicWrite';
import { checkpoint } from '../cancel';
import { EngineError } from '../model/errors';
import { onnxFileName } from '../model/layout';
import { readEntryOf } from '../onnx/cache';
import { STEER_ADD, STEER_BASIS, STEER_MASK } from '../onnx/instrument';
import { implicitInputs } from '../onnx/graph';
import { decodeModel, encodeModel, f32Tensor, onnx } from '../onnx/proto';
import { scanExternalData } from '../onnx/scan';
import { checkDirection } from './extract';
import { unit } from './score';

const BASIS = 'abliteration/basis';

/** Removes nodes whose outputs nothing reads, and initializers no node reads (dead-code elimination). */
function pruneUnused(graph: onnx.IGraphProto): void {
  for (;;) {
    const used = new Set<string>(graph.output!.map((o) => o.name!));
    for (const n of graph.node!) for (const i of [...n.input!, ...implicitInputs(n)]) used.add(i);
    const before = graph.node!.length;
    graph.node = graph.node!.filter((n) => n.output!.some((o) => o && used.has(o)));
    if (graph.node.length === before) {
      graph.initializer = graph.initializer!.filter((t) => used.has(t.name!));
      return;
    }
  }
}

const STAGE_PREFIX = '.refusal-lens-export-';
const MODEL_FILES = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja'];

/**
 * Cancellation: after decoding the graph and after rewriting it (synchronous, on a graph whose
 * weights are external), inside each weight file's copy (a stream aborted by the signal), and after
 * encoding. Everything is written into a staging folder inside `outDir` and moved into place only
 * after the last check (the graph last), so a cancelled or failed export leaves no files behind.
 */
export async function exportAbliterated(
  info: ModelInfo,
  vectors: number[][],
  outDir: string,
  ctx: { signal?: AbortSignal; progress?: (message: string, fraction?: number) => void } = {},
): Promise<string> {
  const { signal } = ctx;
  const entry = await readEntryOf(info.instrumentedFile);
  if (!entry) throw new EngineError('NOT_FOUND', `the instrumented graph ${info.instrumentedFile} is no longer in the cache; load the model again`);
  if (path.resolve(outDir) === path.resolve(info.dir)) throw new EngineError('BAD_REQUEST', 'the export folder must differ from the model folder');
  const H = info.hiddenSize;
  vectors.forEach((v) => checkDirection(info, { vector: v, layer: 0 }));
  const basis = vectors.map(unit);
  ctx.progress?.('Baking the direction into the graph', 0);
  const model = decodeModel(readFileSync(info.instrumentedFile), info.instrumentedFile);
  await checkpoint(signal);
  const graph = model.graph!;
  const rank = basis.length;
  const b = new Float32Array(H * rank);
  basis.forEach((v, j) => v.forEach((x, h) => (b[h * rank + j] = x)));
  // Each writer's `w + mask·(add − proj)` becomes `w − proj` with a constant basis: no steering
  // inputs, no Add that a later residual walk could mistake for a residual update.
  graph.input = graph.input!.filter((i) => ![STEER_BASIS, STEER_ADD, STEER_MASK].includes(i.name!));
  for (const n of graph.node!) {
    if (/^steer\/w\d+\/out$/.test(n.name!)) {
      n.opType = 'Sub';
      n.input = [n.input![0], n.input![1].replace(/\/masked$/, '/proj')];
    }
    n.input = n.input!.map((i) => (i === STEER_BASIS ? BASIS : i));
  }
  graph.initializer!.push(f32Tensor(BASIS, [H, rank], b));
  graph.output = graph.output!.filter((o) => !o.name!.startsWith('resid.'));
  pruneUnused(graph);
  // The engine's own names stay free, so the exported model can be instrumented and studied again.
  const rename = (x: string) => x.replace(/^steer\//, 'abliteration/');
  for (const n of graph.node!) {
    n.name = rename(n.name!);
    n.input = n.input!.map(rename);
    n.output = n.output!.map(rename);
  }
  for (const t of graph.initializer!) t.name = rename(t.name!);
  await checkpoint(signal);

  // External data (of every tensor, subgraphs and Constants too) moves along under the same
  // relative names (locations stay valid).
  const locations = new Set(scanExternalData(info.instrumentedFile).map((r) => r.location));
  const graphFile = path.join('onnx', onnxFileName(info.dtype));
  const files = [...[...locations].map((loc) => path.join('onnx', loc)), ...MODEL_FILES.filter((f) => existsSync(path.join(info.dir, f))), graphFile];
  await fs.mkdir(outDir, { recursive: true });
  // Staging folders of exports killed part-way are removed by the next export into the folder.
  await removeOrphans(outDir, STAGE_PREFIX);
  const stage = await fs.mkdtemp(path.join(outDir, `${STAGE_PREFIX}${process.pid}-`));
  try {
    await fs.mkdir(path.join(stage, 'onnx'));
    for (const [i, loc] of [...locations].entries()) {
      ctx.progress?.(`Copying the weights (${loc})`, (i + 1) / (locations.size + 2));
      await pipeline(createReadStream(path.join(entry.weightsDir, loc)), createWriteStream(path.join(stage, 'onnx', loc)), { signal });
    }
    for (const f of MODEL_FILES) if (files.includes(f)) await fs.copyFile(path.join(info.dir, f), path.join(stage, f));
    ctx.progress?.('Writing the graph', (locations.size + 1) / (locations.size + 2));
    writeFileSync(path.join(stage, graphFile), encodeModel(model));
    await checkpoint(signal);
    // Moved in one by one, the graph last: a folder with the graph holds everything it refers to.
    await fs.mkdir(path.join(outDir, 'onnx'), { recursive: true });
    for (const f of files) await fs.rename(path.join(stage, f), path.join(outDir, f));
  } finally {
    await fs.rm(stage, { recursive: true, force: true });
  }
  return path.join(outDir, graphFile);
}
