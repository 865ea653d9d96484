// Where a model's files are: a local folder in transformers.js layout, or a Hub id, read from the
// Hugging Face cache (where any tool may have put it) or fetched into it. Everything a hostile folder could use against onnxruntime (external data that points
// outside the folder) is refused here, before any session sees the graph.
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { type Dtype, HUB_ID } from '../../protocol';
import { scanExternalData, unsafeLocation } from '../onnx/scan';
import { EngineError } from './errors';
import { cachedSnapshot, hfHubCache, snapshotOf } from './hfCache';
import { downloadHubModel, legacyHubDir } from './hub';
import { detectLayout, DTYPE_SUFFIX, embedFileName, GraphLayout, onnxFileName, splitDecoderFileName } from './layout';

const REQUIRED_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json'];

export interface ModelFiles {
  source: 'local' | 'hub';
  dir: string;
  configPath: string;
  /** The decoder graph (in the split layout, the one taking inputs_embeds). */
  onnxPath: string;
  layout: GraphLayout;
  /** The embedding graph of the split layout. */
  embedPath?: string;
  externalDataFiles: string[];
  /** The commit of a Hub model or of a snapshot folder of the Hugging Face cache, when known. */
  revision?: string;
}

export interface ResolveOptions {
  model: string;
  dtype: Dtype;
  cacheDir: string;
  /** The Hugging Face cache (default: where huggingface_hub keeps it, see hfCache.ts). */
  hubCache?: string;
  allowRemote: boolean;
  onProgress?: (message: string, fraction?: number) => void;
  signal?: AbortSignal;
}

function onnxFiles(dir: string): Set<string> {
  const onnxDir = path.join(dir, 'onnx');
  return existsSync(onnxDir) ? new Set(readdirSync(onnxDir)) : new Set<string>();
}

/** Dtypes whose graph files (of either layout) exist in a folder's onnx/ subfolder. */
export function availableDtypes(dir: string): Dtype[] {
  const files = onnxFiles(dir);
  return (Object.keys(DTYPE_SUFFIX) as Dtype[]).filter((d) => detectLayout(files, d));
}

export async function resolveModel(opts: ResolveOptions): Promise<ModelFiles> {
  const local = path.resolve(opts.model);
  if (existsSync(local)) {
    if (!statSync(local).isDirectory()) {
      throw new EngineError('NOT_FOUND', `${local} is a file; point the model setting at the model's folder (the one holding config.json)`);
    }
    const commit = snapshotOf(local)?.commit;
    return { source: 'local', ...checkFolder(local, opts.dtype), ...(commit ? { revision: commit } : {}) };
  }
  if (!HUB_ID.test(opts.model)) {
    throw new EngineError('NOT_FOUND', `'${opts.model}' is neither an existing folder nor a Hugging Face Hub id (owner/name)`);
  }
  const hubCache = opts.hubCache ?? hfHubCache();
  // A snapshot that already holds everything this dtype needs loads as it is, whoever downloaded it.
  const cached = cachedSnapshot(hubCache, opts.model);
  if (cached && complete(cached.dir, opts.dtype)) return { source: 'hub', ...checkFolder(cached.dir, opts.dtype), revision: cached.commit };
  const legacy = legacyHubDir(opts.cacheDir, opts.model, opts.dtype);
  if (legacy) return { source: 'hub', ...checkFolder(legacy, opts.dtype) };
  const snap = await downloadHubModel(opts.model, opts.dtype, { ...opts, cacheDir: hubCache });
  return { source: 'hub', ...checkFolder(snap.dir, opts.dtype), ...(snap.commit ? { revision: snap.commit } : {}) };
}

/** Whether the folder has every file `dtype` needs (a partial snapshot is completed by a download instead). */
function complete(dir: string, dtype: Dtype): boolean {
  const found = detectLayout(onnxFiles(dir), dtype);
  if (!found || !REQUIRED_FILES.every((f) => existsSync(path.join(dir, f)))) return false;
  const graphs = [found.decoder, ...(found.embed ? [found.embed] : [])].map((g) => path.join(dir, 'onnx', g));
  try {
    return graphs.every((g) => scanExternalData(g).every((r) => !unsafeLocation(r.location) && existsSync(path.join(dir, 'onnx', r.location))));
  } catch {
    return true; // a broken graph is reported by the folder check, not fetched again
  }
}

/** Checks a folder holds everything a decoder needs for `dtype`, with external data kept inside it. */
export function checkFolder(dir: string, dtype: Dtype): Omit<ModelFiles, 'source'> {
  for (const f of REQUIRED_FILES) {
    if (!existsSync(path.join(dir, f))) {
      throw new EngineError('MODEL_INVALID', `${f} is missing in ${dir}; a transformers.js model folder needs config.json, tokenizer.json, tokenizer_config.json and onnx/model*.onnx`);
    }
  }
  const files = onnxFiles(dir);
  const found = detectLayout(files, dtype);
  if (!found) {
    const have = availableDtypes(dir);
    const names = [...files];
    const embeds = names.filter((f) => /^embed_tokens.*\.onnx$/.test(f));
    const hint = files.has(splitDecoderFileName(dtype))
      ? `onnx/${splitDecoderFileName(dtype)} is there but its embedding graph onnx/${embedFileName(dtype)} is not (split layout: embed_tokens + decoder_model_merged of one dtype; embedding graphs present: ${embeds.join(', ') || 'none'})`
      : have.length
        ? `available dtypes: ${have.join(', ')}`
        : names.some((f) => f.startsWith('decoder_model_merged'))
          ? 'only decoder_model_merged*.onnx files exist, without embed_tokens*.onnx: that is the pre-v3 layout (If-based merged decoder), not supported'
          : 'no onnx/model*.onnx (or onnx/embed_tokens*.onnx + onnx/decoder_model_merged*.onnx) file at all';
    throw new EngineError('MODEL_INVALID', `no onnx/${onnxFileName(dtype)} in ${dir} for dtype ${dtype}; ${hint}`);
  }
  const onnxPath = path.join(dir, 'onnx', found.decoder);
  const embedPath = found.embed && path.join(dir, 'onnx', found.embed);
  const externalDataFiles = [...checkExternalData(onnxPath, dir), ...(embedPath ? checkExternalData(embedPath, dir) : [])];
  return { dir, configPath: path.join(dir, 'config.json'), onnxPath, layout: found.layout, ...(embedPath ? { embedPath } : {}), externalDataFiles };
}

/**
 * Every external-data location of a graph must name a regular file that stays inside the model
 * folder (also through links), with the tensor's bytes inside that file. A snapshot folder of the
 * Hugging Face cache holds links into its repository's blobs/: there, that folder counts too.
 */
export function checkExternalData(onnxPath: string, modelDir = path.dirname(path.dirname(onnxPath))): string[] {
  let refs;
  try {
    refs = scanExternalData(onnxPath);
  } catch (e) {
    throw new EngineError('MODEL_INVALID', (e as Error).message);
  }
  const blobs = snapshotOf(path.resolve(modelDir))?.blobs;
  const roots = [modelDir, ...(blobs && existsSync(blobs) ? [blobs] : [])].map((d) => realpathSync(d));
  const files = new Set<string>();
  for (const { tensor, where, location, offset, length, bytes, declared } of refs) {
    const refuse = (why: string): never => {
      throw new EngineError('MODEL_INVALID', `${onnxPath}: tensor '${tensor}' (${where}) has external data location '${location}', which ${why}; refusing to load it`);
    };
    const unsafe = unsafeLocation(location);
    if (unsafe) refuse(unsafe);
    const file = path.join(path.dirname(onnxPath), location);
    if (!existsSync(file)) refuse('does not exist');
    const real = realpathSync(file);
    if (!roots.some((root) => real.startsWith(root + path.sep))) refuse(`resolves (through a link) to ${real}, outside the model folder ${roots.join(' and its cache blobs ')}`);
    const stat = statSync(real);
    if (!stat.isFile()) refuse(stat.isDirectory() ? 'is a directory, not a file' : 'is not a regular file');
    const count = (key: string, value: string | undefined): number | undefined => {
      if (value === undefined) return undefined;
      return /^\d{1,15}$/.test(value) ? Number(value) : refuse(`comes with ${key} '${value}', not a byte count`);
    };
    const start = count('offset', offset) ?? 0;
    const size = count('length', length);
    if (size !== undefined && bytes !== undefined && size < bytes) refuse(`gives length ${size}, but the tensor's ${declared} need ${bytes} bytes`);
    const need = size ?? bytes;
    if (need !== undefined && start + need > stat.size) {
      refuse(`holds ${stat.size} bytes, but the tensor (${declared}) needs bytes ${start} to ${start + need}: the file is truncated or the tensor's size is crafted`);
    }
    files.add(real);
  }
  return [...files];
}
