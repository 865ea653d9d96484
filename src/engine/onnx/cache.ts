// The instrumented graph is built once per source file and engine version and kept on disk. The
// cache entry is written to a private temp folder and renamed into place, so a crash or a second
// window never leaves (or reads) a half-written entry. Weights are never copied when the source
// keeps them in external data files: the entry holds only the graph, and the session reads the
// weights from the source folder (ORT refuses external data reached through links).
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { checkpoint, throwIfCancelled } from '../cancel';
import { instrument, InstrumentMeta, INSTRUMENT_VERSION } from './instrument';
import { externalizeInitializers } from './external';
import { decodeModel, encodeModel } from './proto';

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
}

/** Streamed, so a cancel note is seen between chunks (the signal destroys the stream: an AbortError). */
export async function hashFile(file: string, signal?: AbortSignal): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file, { signal })) h.update(chunk as Buffer);
  return h.digest('hex');
}

export async function instrumentCached(
  onnxPath: string,
  opts: { layers: number; hidden: number; cacheDir: string; onProgress?: (message: string) => void; signal?: AbortSignal },
): Promise<InstrumentedModel> {
  // Cancellation: between hashed chunks, then after each synchronous step (decode, instrument,
  // encode and write), each bounded by the graph file's size; the entry is renamed into place only
  // after the last check, and a cancelled build removes its temp folder.
  const { signal } = opts;
  opts.onProgress?.('Hashing the model graph');
  const key = createHash('sha256')
    .update(`${await hashFile(onnxPath, signal)}:${INSTRUMENT_VERSION}:${opts.layers}:${opts.hidden}`)
    .digest('hex')
    .slice(0, 24);
  const dir = path.join(opts.cacheDir, 'instrumented', key);
  const cached = await readEntry(dir);
  if (cached) return { path: path.join(dir, INSTRUMENTED_FILE), weightsDir: cached.weightsDir, meta: cached, cacheHit: true };

  throwIfCancelled(signal);
  opts.onProgress?.('Instrumenting the residual stream');
  const model = decodeModel(readFileSync(onnxPath), onnxPath);
  await checkpoint(signal);
  const meta = instrument(model, opts.layers, opts.hidden);
  await checkpoint(signal);
  await fs.mkdir(path.dirname(dir), { recursive: true });
  // A private temp folder per build (two windows, or two loads in one engine, never share one).
  const tmp = await fs.mkdtemp(`${dir}.tmp-${process.pid}-`);
  try {
    const hasExternal = (model.graph!.initializer ?? []).some((t) => t.externalData?.length);
    const weightsDir = hasExternal ? path.dirname(path.resolve(onnxPath)) : dir;
    if (!hasExternal) externalizeInitializers(model, path.join(tmp, DATA_FILE), EXTERNALIZE_BYTES);
    await checkpoint(signal);
    writeFileSync(path.join(tmp, INSTRUMENTED_FILE), encodeModel(model));
    const entry: EntryMeta = { ...meta, weightsDir };
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
  return { path: path.join(dir, INSTRUMENTED_FILE), weightsDir: (await readEntry(dir))!.weightsDir, meta, cacheHit: false };
}

/** The cache entry holding an instrumented graph (undefined when missing, stale or unreadable). */
export function readEntryOf(graphPath: string): Promise<EntryMeta | undefined> {
  return readEntry(path.dirname(graphPath));
}

async function readEntry(dir: string): Promise<EntryMeta | undefined> {
  try {
    const meta = JSON.parse(await fs.readFile(path.join(dir, META_FILE), 'utf8')) as EntryMeta;
    await fs.access(path.join(dir, INSTRUMENTED_FILE));
    return meta.version === INSTRUMENT_VERSION ? meta : undefined;
  } catch {
    return undefined;
  }
}
