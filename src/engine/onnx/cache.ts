// The instrumented graph is built once per source file and engine version and kept on disk. The
// cache entry is written to a private temp folder and renamed into place, so a crash or a second
// window never leaves (or reads) a half-written entry. Weights are never copied when the source
// keeps them in external data files: the entry holds only the graph, and the session reads the
// weights from the source folder (ORT refuses external data reached through links). The entry's
// meta records each file's size and sha256; an entry that does not match (a crash of the disk, a
// half-deleted folder, a hand edit) is reported and rebuilt rather than loaded.
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { describeZodError } from '../../protocol';
import { removeOrphans } from '../atomicWrite';
import { checkpoint, throwIfCancelled } from '../cancel';
import { hashFile } from '../fileHash';
import type { HeadsLayerMeta } from './heads';
import { instrument, InstrumentMeta, INSTRUMENT_VERSION } from './instrument';
import { externalizeInitializers } from './external';
import { decodeModel, encodeModel } from './proto';
import { scanExternalData } from './scan';
import { resolveWeightLinks } from './weights';

export const INSTRUMENTED_FILE = 'model.onnx';
const DATA_FILE = 'model.onnx_data';
const META_FILE = 'instrument.json';
/** Initializers larger than this move to the entry's data file so the graph itself stays small. */
const EXTERNALIZE_BYTES = 1024;

export interface InstrumentedModel {
  path: string;
  /** Folder the graph's external data locations are relative to. */
  weightsDir: string;
  meta: InstrumentMeta;
  cacheHit: boolean;
}

export interface EntryMeta extends InstrumentMeta {
  weightsDir: string;
  /** Every file of the entry but the meta: size, sha256 and modification time when written. */
  files: Record<string, { size: number; sha256: string; mtimeMs: number }>;
}

const int = z.number().int().nonnegative();
const EntryMetaSchema = z.object({
  version: z.literal(INSTRUMENT_VERSION),
  layers: int,
  hidden: int,
  updates: int,
  residualOps: z.array(z.string()),
  embedFrom: z.enum(['input_ids', 'inputs_embeds']),
  writerTypes: z.array(int),
  writers: z.array(z.string()),
  io: z.object({
    tokens: z.enum(['input_ids', 'inputs_embeds']),
    hasPositionIds: z.boolean(),
    leftPadding: z.boolean(),
    hasNumLogitsToKeep: z.boolean(),
    cacheLayers: z.array(int),
    cacheElemType: int,
    cacheShape: z.array(z.union([z.number(), z.string()])),
  }),
  heads: z.array(z.custom<HeadsLayerMeta>((v) => typeof v === 'object' && v !== null && 'z' in v && 'projection' in v && 'pattern' in v)).optional(),
  weightsDir: z.string().min(1),
  files: z.record(z.string(), z.object({ size: int, sha256: z.string().regex(/^[0-9a-f]{64}$/), mtimeMs: z.number() })).refine((f) => INSTRUMENTED_FILE in f, { message: `must list ${INSTRUMENTED_FILE}` }),
}) satisfies z.ZodType<EntryMeta>;

export async function instrumentCached(
  onnxPath: string,
  opts: { layers: number; hidden: number; cacheDir: string; heads?: number; onProgress?: (message: string) => void; signal?: AbortSignal; onWarning?: (message: string) => void },
): Promise<InstrumentedModel> {
  // Cancellation: between hashed chunks, then after each synchronous step (decode, instrument,
  // encode and write), each bounded by the graph file's size; the entry is renamed into place only
  // after the last check, and a cancelled build removes its temp folder.
  const { signal } = opts;
  opts.onProgress?.('Hashing the model graph');
  const key = createHash('sha256')
    .update(`${await hashFile(onnxPath, { signal })}:${INSTRUMENT_VERSION}:${opts.layers}:${opts.hidden}${opts.heads ? `:heads${opts.heads}` : ''}`)
    .digest('hex')
    .slice(0, 24);
  const dir = path.join(opts.cacheDir, 'instrumented', key);
  const cached = await checkEntry(dir);
  if (cached && 'meta' in cached) return { path: path.join(dir, INSTRUMENTED_FILE), weightsDir: cached.meta.weightsDir, meta: cached.meta, cacheHit: true };
  if (cached) {
    (opts.onWarning ?? ((m) => process.stderr.write(`${m}\n`)))(`the cached instrumented graph in ${dir} is damaged (${cached.problem}); rebuilding it`);
    await discardDamaged(dir);
  }

  throwIfCancelled(signal);
  opts.onProgress?.('Instrumenting the residual stream');
  const model = decodeModel(readFileSync(onnxPath), onnxPath);
  await checkpoint(signal);
  const meta = instrument(model, opts.layers, opts.hidden, { heads: opts.heads });
  await checkpoint(signal);
  await fs.mkdir(path.dirname(dir), { recursive: true });
  // Temp folders of builds killed part-way would otherwise stay forever (they can hold the weights).
  await removeOrphans(path.dirname(dir), `${path.basename(dir)}.tmp-`);
  // Any tensor with external data (a Constant's or a subgraph's too) keeps the source folder as
  // weightsDir (the folder its links lead to, in a Hugging Face cache snapshot: see weights.ts);
  // ours also when another engine wins the rename (its source may be another folder).
  const hasExternal = scanExternalData(onnxPath).length > 0;
  const weightsDir = hasExternal ? resolveWeightLinks(model, path.dirname(path.resolve(onnxPath))) : dir;
  // A private temp folder per build (two windows, or two loads in one engine, never share one).
  const tmp = await fs.mkdtemp(`${dir}.tmp-${process.pid}-`);
  try {
    if (!hasExternal) externalizeInitializers(model, path.join(tmp, DATA_FILE), EXTERNALIZE_BYTES);
    await checkpoint(signal);
    writeFileSync(path.join(tmp, INSTRUMENTED_FILE), encodeModel(model));
    const files: EntryMeta['files'] = {};
    for (const name of await fs.readdir(tmp)) {
      const { size, mtimeMs } = await fs.stat(path.join(tmp, name));
      files[name] = { size, sha256: await hashFile(path.join(tmp, name)), mtimeMs };
    }
    const entry: EntryMeta = { ...meta, weightsDir, files };
    writeFileSync(path.join(tmp, META_FILE), JSON.stringify({ ...entry, source: onnxPath }, null, 2));
    await checkpoint(signal);
    try {
      await fs.rename(tmp, dir);
    } catch (e) {
      // Another process finished the same entry first: theirs is as good as ours.
      if (!(await readEntry(dir))) throw e;
      await fs.rm(tmp, { recursive: true, force: true });
    }
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw e;
  }
  return { path: path.join(dir, INSTRUMENTED_FILE), weightsDir, meta, cacheHit: false };
}

/**
 * Removes a damaged entry without deleting an intact one that another engine (another window)
 * rebuilt in its place since it was checked: the folder is renamed aside first (atomic), and put
 * back if what was moved turns out to be intact.
 */
export async function discardDamaged(dir: string): Promise<void> {
  const aside = `${dir}.damaged-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await fs.rename(dir, aside);
  } catch {
    return; // already gone
  }
  const moved = await checkEntry(aside);
  if (moved && 'meta' in moved && (await fs.rename(aside, dir).then(() => true, () => false))) return;
  await fs.rm(aside, { recursive: true, force: true });
}

/** The cache entry holding an instrumented graph (undefined when missing, stale or unreadable). */
export function readEntryOf(graphPath: string): Promise<EntryMeta | undefined> {
  return readEntry(path.dirname(graphPath));
}

async function readEntry(dir: string): Promise<EntryMeta | undefined> {
  const c = await checkEntry(dir);
  return c && 'meta' in c ? c.meta : undefined;
}

/**
 * The entry in `dir`: its meta when it is intact, what is wrong when it is not, undefined when there
 * is none. The graph is always hashed (it is small: weights live in the data file or the source's
 * own external data). The data file can hold gigabytes (a model with embedded weights), so it is
 * checked by size, and hashed only when its modification time differs from the one recorded: any
 * write to it changes that, so corruption through the file system is caught without reading the
 * weights at every load (the source graph is already hashed for the key).
 */
async function checkEntry(dir: string): Promise<{ meta: EntryMeta } | { problem: string } | undefined> {
  let text: string;
  try {
    text = await fs.readFile(path.join(dir, META_FILE), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return { problem: `${META_FILE} cannot be read: ${(e as Error).message}` };
    return (await fs.stat(dir).catch(() => undefined)) ? { problem: `${META_FILE} is missing` } : undefined;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { problem: `${META_FILE} is not JSON: ${(e as Error).message}` };
  }
  const parsed = EntryMetaSchema.safeParse(raw);
  if (!parsed.success) return { problem: `${META_FILE} does not describe an entry of this version: ${describeZodError(parsed.error)}` };
  const meta = parsed.data;
  for (const [name, want] of Object.entries(meta.files)) {
    const file = path.join(dir, path.basename(name));
    const st = await fs.stat(file).catch(() => undefined);
    if (!st) return { problem: `${name} is missing` };
    if (st.size !== want.size) return { problem: `${name} has ${st.size} bytes, ${want.size} were written` };
    if ((name === INSTRUMENTED_FILE || st.mtimeMs !== want.mtimeMs) && (await hashFile(file)) !== want.sha256) return { problem: `${name} does not match its sha256` };
  }
  return { meta };
}
