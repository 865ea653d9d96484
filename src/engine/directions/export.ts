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
import { readEntryOf } from '../onnx/cache';
import { STEER_ADD, STEER_BASIS, STEER_MASK } from '../onnx/instrument';
import { implicitInputs } from '../onnx/graph';
import { checkEmbedIO } from '../onnx/io';
import { DataType, decodeModel, encodeModel, f32Tensor, node, onnx, tensorFromTyped } from '../onnx/proto';
import { floatToHalf } from '../runtime/tensors';
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

/**
 * The split layout's embedding graph with the direction removed from what it writes: e − (e B) Bᵀ
 * after the lookup, which is the table orthogonalised row by row (W_E − W_E B Bᵀ) without rewriting,
 * or requantizing, a table of gigabytes. The decoder also projects its inputs_embeds (writer 0), so
 * embeddings merged in between (a vision-language model's image tokens) are covered too.
 */
function orthogonaliseEmbedding(model: onnx.IModelProto, b: Float32Array, H: number, rank: number): void {
  const graph = model.graph!;
  const { output, elemType } = checkEmbedIO(graph);
  const raw = 'abliteration/embed_raw';
  for (const n of graph.node!) {
    n.input = n.input!.map((i) => (i === output ? raw : i));
    n.output = n.output!.map((o) => (o === output ? raw : o));
  }
  const bT = new Float32Array(rank * H);
  for (let h = 0; h < H; h++) for (let j = 0; j < rank; j++) bT[j * H + h] = b[h * rank + j];
  const typed = (name: string, dims: number[], data: Float32Array) =>
    elemType === DataType.FLOAT16 ? tensorFromTyped(name, dims, DataType.FLOAT16, Uint16Array.from(data, floatToHalf)) : f32Tensor(name, dims, data);
  graph.initializer!.push(typed(BASIS, [H, rank], b), typed(`${BASIS}T`, [rank, H], bT));
  graph.node!.push(
    node('MatMul', [raw, BASIS], ['abliteration/embed_dot'], 'abliteration/embed_dot'),
    node('MatMul', ['abliteration/embed_dot', `${BASIS}T`], ['abliteration/embed_proj'], 'abliteration/embed_proj'),
    node('Sub', [raw, 'abliteration/embed_proj'], [output], 'abliteration/embed_out'),
  );
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
  // (fp16 graphs' casts of the basis too, 'steer_basis/as10': left alone, a second load clashed with its own.)
  const rename = (x: string) => x.replace(/^steer(?=[/_])/, 'abliteration');
  for (const n of graph.node!) {
    n.name = rename(n.name!);
    n.input = n.input!.map(rename);
    n.output = n.output!.map(rename);
  }
  for (const t of graph.initializer!) t.name = rename(t.name!);
  await checkpoint(signal);

  // The split layout's embedding graph goes along, orthogonalised.
  const embed = info.embedFile ? decodeModel(readFileSync(info.embedFile), info.embedFile) : undefined;
  if (embed) orthogonaliseEmbedding(embed, b, H, rank);
  await checkpoint(signal);

  // External data (of every tensor, subgraphs and Constants too) moves along under the same
  // relative names (locations stay valid): the decoder's from its weights folder, the embedding
  // graph's from the model's onnx/ folder.
  const weights = new Map<string, string>();
  for (const r of scanExternalData(info.instrumentedFile)) weights.set(r.location, path.join(entry.weightsDir, r.location));
  if (info.embedFile) for (const r of scanExternalData(info.embedFile)) weights.set(r.location, path.join(path.dirname(info.embedFile), r.location));
  const graphFile = path.join('onnx', path.basename(info.onnxFile));
  const embedFile = info.embedFile && path.join('onnx', path.basename(info.embedFile));
  const graphs = [...(embedFile ? [embedFile] : []), graphFile];
  const files = [...[...weights.keys()].map((loc) => path.join('onnx', loc)), ...MODEL_FILES.filter((f) => existsSync(path.join(info.dir, f))), ...graphs];
  await fs.mkdir(outDir, { recursive: true });
  // Staging folders of exports killed part-way are removed by the next export into the folder.
  await removeOrphans(outDir, STAGE_PREFIX);
  const stage = await fs.mkdtemp(path.join(outDir, `${STAGE_PREFIX}${process.pid}-`));
  try {
    await fs.mkdir(path.join(stage, 'onnx'));
    for (const [i, [loc, from]] of [...weights].entries()) {
      ctx.progress?.(`Copying the weights (${loc})`, (i + 1) / (weights.size + 2));
      await pipeline(createReadStream(from), createWriteStream(path.join(stage, 'onnx', loc)), { signal });
    }
    for (const f of MODEL_FILES) if (files.includes(f)) await fs.copyFile(path.join(info.dir, f), path.join(stage, f));
    ctx.progress?.('Writing the graph', (weights.size + 1) / (weights.size + 2));
    if (embed && embedFile) writeFileSync(path.join(stage, embedFile), encodeModel(embed));
    writeFileSync(path.join(stage, graphFile), encodeModel(model));
    await checkpoint(signal);
    // Moved in one by one, the graphs last: a folder with the graphs holds everything they refer to.
    await fs.mkdir(path.join(outDir, 'onnx'), { recursive: true });
    for (const f of files) await fs.rename(path.join(stage, f), path.join(outDir, f));
  } finally {
    await fs.rm(stage, { recursive: true, force: true });
  }
  return path.join(outDir, graphFile);
}
