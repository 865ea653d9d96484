// Direction files: a versioned JSON document with each direction's metadata (model, layer, position,
// method, prompt-set hashes, scores) and its values as raw little-endian float32 in a sidecar
// `<name>.f32` checked by size and sha256 on load. Small hand-written files may carry `vector`
// inline instead. Both are written to temporary names and renamed together, so a crash never leaves half a file.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { describeZodError, finite, TemplateInfo, type ModelInfo } from '../../protocol';
import { templateDifferences } from '../model/templateOptions';
import type { Candidate, ExtractResult } from './extract';
import type { PromptSet } from './prompts';
import { writeFilesAtomic } from '../atomicWrite';
import { describeFsError, EngineError } from '../model/errors';
import { norm } from './linalg';

export const DIRECTIONS_FORMAT = 'refusal-lens/directions';

const DirectionEntry = z
  .object({
    name: z.string(),
    /** Layer whose resid_pre the direction was read from. */
    layer: z.number().int().nonnegative(),
    /** Token position it was read at (negative: from the end of the prompt). */
    position: z.number().int(),
    method: z.string(),
    /** Inline values, or `offset` into the sidecar's float32 array. */
    vector: z.array(finite).min(1).optional(),
    offset: z.number().int().nonnegative().optional(),
    scores: z.record(z.string(), z.number().nullable()).optional(),
  })
  .refine((d) => (d.vector === undefined) !== (d.offset === undefined), { message: 'a direction needs exactly one of vector or offset' });

const DocSchema = z.object({
  format: z.literal(DIRECTIONS_FORMAT),
  version: z.literal(1),
  model: z.object({
    id: z.string(),
    layers: z.number().int().positive(),
    hidden: z.number().int().positive(),
    /** The commit of the model's files (a Hub model, or a Hugging Face cache snapshot), when known. */
    revision: z.string().optional(),
    /** The chat-template variables the prompts were rendered with. */
    template: TemplateInfo.optional(),
  }),
  directions: z.array(DirectionEntry).min(1),
  /** Index of the direction used by default (ablation, scoring). */
  selected: z.number().int().nonnegative().default(0),
  /** Prompt-set name -> sha256 of its prompts. */
  datasets: z.record(z.string(), z.string()).optional(),
  data: z.object({ file: z.string(), sha256: z.string(), floats: z.number().int().positive() }).optional(),
  created: z.string().optional(),
});

export interface Direction {
  name: string;
  layer: number;
  position: number;
  method: string;
  vector: number[];
  scores?: Record<string, number | null>;
}

export interface DirectionsDoc {
  model: { id: string; layers: number; hidden: number; revision?: string; template?: TemplateInfo };
  directions: Direction[];
  selected: number;
  datasets?: Record<string, string>;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export async function writeDirections(file: string, doc: DirectionsDoc): Promise<void> {
  for (const [i, d] of doc.directions.entries()) {
    if (d.vector.length !== doc.model.hidden) throw new EngineError('BAD_REQUEST', `direction ${i} has ${d.vector.length} values, the model's hidden size is ${doc.model.hidden}`);
  }
  const floats = Float32Array.from(doc.directions.flatMap((d) => d.vector));
  const bytes = new Uint8Array(floats.buffer);
  const dataFile = `${path.basename(file, path.extname(file))}.f32`;
  const json = {
    format: DIRECTIONS_FORMAT,
    version: 1,
    created: new Date().toISOString(),
    model: doc.model,
    selected: doc.selected,
    datasets: doc.datasets,
    data: { file: dataFile, sha256: sha256(bytes), floats: floats.length },
    directions: doc.directions.map((d, i) => ({ name: d.name, layer: d.layer, position: d.position, method: d.method, offset: i * doc.model.hidden, scores: d.scores })),
  };
  await writeFilesAtomic([
    { file: path.join(path.dirname(file), dataFile), data: bytes },
    { file, data: JSON.stringify(json, null, 2) },
  ]);
}

/** The JSON part holds metadata (and small inline vectors); bulk values live in the sidecar. */
const MAX_DOC_BYTES = 64 * 1024 * 1024;

export async function readDirections(file: string): Promise<DirectionsDoc> {
  let raw: unknown;
  try {
    const { size } = await fs.stat(file);
    if (size > MAX_DOC_BYTES) throw new Error(`it is ${(size / 2 ** 20).toFixed(0)} MB, more than a direction file's ${MAX_DOC_BYTES / 2 ** 20} MB`);
    raw = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (e) {
    throw new EngineError('BAD_REQUEST', `cannot read direction file ${file}: ${describeFsError(e)}`);
  }
  const parsed = DocSchema.safeParse(raw);
  if (!parsed.success) throw new EngineError('BAD_REQUEST', `${file} is not a Refusal Lens direction file: ${describeZodError(parsed.error)}`);
  const doc = parsed.data;
  const H = doc.model.hidden;
  let data: Float32Array | undefined;
  if (doc.data) {
    const dataPath = path.join(path.dirname(file), path.basename(doc.data.file));
    let bytes: Buffer;
    try {
      // The size is checked before reading, so a wrong or huge file is never pulled into memory.
      const { size } = await fs.stat(dataPath);
      if (size !== doc.data.floats * 4) {
        throw new EngineError('BAD_REQUEST', `${file}: data file ${dataPath} has ${size} bytes, the document says ${doc.data.floats} float32 values (${doc.data.floats * 4} bytes)`);
      }
      bytes = await fs.readFile(dataPath);
    } catch (e) {
      if (e instanceof EngineError) throw e;
      throw new EngineError('BAD_REQUEST', `${file}: its data file ${dataPath} is missing`);
    }
    if (sha256(bytes) !== doc.data.sha256) {
      throw new EngineError('BAD_REQUEST', `${file}: data file ${dataPath} does not match its checksum (corrupt or from another export)`);
    }
    data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  }
  if (doc.selected >= doc.directions.length) {
    throw new EngineError('BAD_REQUEST', `${file}: selected direction ${doc.selected} does not exist (${doc.directions.length} directions)`);
  }
  const directions = doc.directions.map((d, i): Direction => {
    let vector = d.vector;
    if (d.offset !== undefined) {
      if (!data || d.offset + H > data.length) throw new EngineError('BAD_REQUEST', `${file}: direction ${i} points outside the data file`);
      vector = Array.from(data.subarray(d.offset, d.offset + H));
    }
    if (vector!.length !== H) throw new EngineError('BAD_REQUEST', `${file}: direction ${i} has ${vector!.length} values but the file says hidden size ${H}`);
    if (!vector!.every(Number.isFinite)) throw new EngineError('BAD_REQUEST', `${file}: direction ${i} contains NaN or infinite values`);
    // Finite entries can still overflow the norm (every entry 1e308), and a zero vector has no
    // direction: either would normalise to zeros and score every token 0 without a word.
    const n = norm(vector!);
    if (!Number.isFinite(n) || n === 0) {
      throw new EngineError('BAD_REQUEST', `${file}: direction ${i} ('${d.name}') has ${n === 0 ? 'zero norm' : 'a norm too large to represent (its values overflow)'}, so it points nowhere`);
    }
    return { name: d.name, layer: d.layer, position: d.position, method: d.method, vector: vector!, ...(d.scores ? { scores: d.scores } : {}) };
  });
  return { model: doc.model, directions, selected: doc.selected, ...(doc.datasets ? { datasets: doc.datasets } : {}) };
}

/** What a direction file records of the model it was made for. */
export function modelOf(info: ModelInfo): DirectionsDoc['model'] {
  return {
    id: info.model,
    layers: info.layers,
    hidden: info.hiddenSize,
    ...(info.revision ? { revision: info.revision } : {}),
    ...(info.chat ? { template: info.chat.template } : {}),
  };
}

/** A warning when the direction was made from prompts rendered with other template variables than those in effect. */
export function templateWarning(doc: DirectionsDoc, info: ModelInfo, file: string): string | undefined {
  const made = doc.model.template;
  const now = info.chat?.template;
  if (!made || !now) return undefined;
  const diff = templateDifferences(made, now);
  return diff.length ? `${file} was made from prompts rendered with other chat-template variables (${diff.join('; ')}): its scores may not carry over` : undefined;
}

/**
 * Refuses a direction file made for a model of another shape. A file made on another model of the
 * same shape fits but may mean nothing there: the returned warning says so (undefined: same model).
 */
export function checkDirectionsFit(doc: DirectionsDoc, model: { model: string; dir: string; layers: number; hiddenSize: number; revision?: string }, file: string): string | undefined {
  const { layers, hiddenSize: hidden } = model;
  if (doc.model.hidden !== hidden || doc.model.layers !== layers) {
    throw new EngineError(
      'BAD_REQUEST',
      `${file} was made for ${doc.model.id} (${doc.model.layers} layers, hidden ${doc.model.hidden}); the loaded model has ${layers} layers, hidden ${hidden}`,
    );
  }
  doc.directions.forEach((d, i) => {
    if (d.layer >= layers) throw new EngineError('BAD_REQUEST', `${file}: direction ${i} is at layer ${d.layer}, the model has ${layers} layers`);
  });
  if (sameModel(doc.model.id, model)) {
    const [made, loaded] = [doc.model.revision, model.revision];
    return made && loaded && made !== loaded ? `${file} was made on ${doc.model.id} at commit ${made}; the loaded files are from commit ${loaded}, whose weights may differ` : undefined;
  }
  return `${file} was made on ${doc.model.id}, not on the loaded model ${model.model}: they have the same shape, but a direction read from one model need not mean anything in another`;
}

/** A model id (a folder as given, or a Hub id) names the loaded model, even if the folder was given another way or moved. */
function sameModel(id: string, model: { model: string; dir: string }): boolean {
  if (id === model.model) return true;
  const base = (p: string) => path.basename(path.resolve(p));
  return path.resolve(id) === path.resolve(model.dir) || base(id) === base(model.model) || base(id) === base(model.dir);
}

/** The direction file for one extraction candidate (default: the selected one), with its provenance. */
export function extractionDoc(
  model: DirectionsDoc['model'],
  r: Pick<ExtractResult, 'positions' | 'meanDiffs' | 'selected'>,
  datasets: PromptSet[],
  candidate: Candidate | undefined = r.selected,
): DirectionsDoc {
  if (!candidate) throw new EngineError('BAD_REQUEST', 'no candidate was selected: every candidate was filtered out');
  const p = r.positions.indexOf(candidate.position);
  const diff = r.meanDiffs[p]?.[candidate.layer];
  if (!diff) throw new EngineError('BAD_REQUEST', `no candidate at layer ${candidate.layer}, position ${candidate.position}`);
  return {
    model,
    selected: 0,
    datasets: Object.fromEntries(datasets.map((d) => [d.name, d.hash])),
    directions: [
      {
        name: 'refusal',
        layer: candidate.layer,
        position: candidate.position,
        method: 'difference in means (Arditi et al. 2024)',
        vector: Array.from(diff),
        scores: { bypass_score: candidate.bypass, induce_score: candidate.induce, kl: candidate.kl, norm: candidate.norm },
      },
    ],
  };
}
