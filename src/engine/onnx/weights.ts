// onnxruntime (1.24+) resolves the links of an external-data path and refuses a file that then lies
// outside the folder it reads weights from. A snapshot of the Hugging Face cache links each file
// into the repository's blobs/, so a session gets the graph with every location rewritten to the
// file its link resolves to, relative to the one folder holding them all. Which links may be
// followed is decided before (source.ts checkExternalData); this only makes onnxruntime see through them.
import { readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { decodeModel, encodeModel, onnx } from './proto';
import { scanExternalData } from './scan';

/** Every tensor of the model that may hold external data: initializers, Constant attributes, subgraphs and functions. */
function* tensors(model: onnx.IModelProto): Generator<onnx.ITensorProto> {
  function* ofNodes(nodes: onnx.INodeProto[] | null | undefined): Generator<onnx.ITensorProto> {
    for (const n of nodes ?? []) {
      for (const a of n.attribute ?? []) {
        if (a.t) yield a.t;
        yield* a.tensors ?? [];
        for (const s of [a.sparseTensor, ...(a.sparseTensors ?? [])]) if (s) yield* [s.values, s.indices].filter((t): t is onnx.ITensorProto => !!t);
        for (const g of [a.g, ...(a.graphs ?? [])]) if (g) yield* ofGraph(g);
      }
    }
  }
  function* ofGraph(g: onnx.IGraphProto): Generator<onnx.ITensorProto> {
    yield* g.initializer ?? [];
    for (const s of g.sparseInitializer ?? []) yield* [s.values, s.indices].filter((t): t is onnx.ITensorProto => !!t);
    yield* ofNodes(g.node);
  }
  if (model.graph) yield* ofGraph(model.graph);
  for (const f of model.functions ?? []) yield* ofNodes(f.node);
}

/** Where each external-data location of the graph in `graphDir` really is, or undefined when none goes through a link. */
function linkedLocations(locations: Iterable<string>, graphDir: string): Map<string, string> | undefined {
  const realDir = realpathSync(graphDir);
  const real = new Map<string, string>();
  for (const loc of locations) real.set(loc, realpathSync(path.join(graphDir, loc)));
  return [...real].some(([loc, file]) => file !== path.join(realDir, loc)) ? real : undefined;
}

/** The deepest folder holding every file. */
function commonFolder(files: string[]): string {
  let dir = path.dirname(files[0]);
  while (!files.every((f) => f.startsWith(dir + path.sep))) dir = path.dirname(dir);
  return dir;
}

/**
 * Rewrites the external-data locations of `model` (whose graph file is in `graphDir`) that go
 * through links to the files they resolve to; returns the folder they are now relative to
 * (`graphDir` itself when no location goes through a link).
 */
export function resolveWeightLinks(model: onnx.IModelProto, graphDir: string): string {
  const external = [...tensors(model)].flatMap((t) => t.externalData?.filter((e) => e.key === 'location') ?? []);
  const real = linkedLocations(new Set(external.map((e) => e.value ?? '')), graphDir);
  if (!real) return graphDir;
  const root = commonFolder([...real.values()]);
  for (const entry of external) entry.value = path.relative(root, real.get(entry.value ?? '')!).split(path.sep).join('/');
  return root;
}

/** The graph file's bytes for a session, with the folder its weights are read from (see resolveWeightLinks). */
export function sessionGraph(onnxPath: string): { bytes: Uint8Array; weightsDir: string } {
  const graphDir = path.dirname(path.resolve(onnxPath));
  const bytes = readFileSync(onnxPath);
  if (!linkedLocations(new Set(scanExternalData(onnxPath).map((r) => r.location)), graphDir)) return { bytes, weightsDir: graphDir };
  const model = decodeModel(bytes, onnxPath);
  const weightsDir = resolveWeightLinks(model, graphDir);
  return { bytes: encodeModel(model), weightsDir };
}
