// Downloads a Hub model into the cache folder the caller chooses, in transformers.js layout. The
// URL comes from transformers.js's own `env.remoteHost` / `env.remotePathTemplate` (so a mirror set
// there is honoured); the transfer itself is done here because transformers.js does not export its
// single-file downloader, and we need per-file progress, cancellation, size checks and clean-up.
// Which external-data files to fetch is read from the downloaded graph itself, not guessed.
import { createWriteStream, existsSync, promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { env } from '@huggingface/transformers';
import type { Dtype } from '../../protocol';
import { decodeModel } from '../onnx/proto';
import { EngineError } from './errors';
import { onnxFileName } from './layout';

export const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;
const REQUIRED = ['config.json', 'tokenizer.json', 'tokenizer_config.json'];
const OPTIONAL = ['generation_config.json', 'special_tokens_map.json', 'chat_template.jinja'];

export interface DownloadOptions {
  cacheDir: string;
  allowRemote: boolean;
  onProgress?: (message: string, fraction?: number) => void;
  signal?: AbortSignal;
  revision?: string;
}

export function hubUrl(id: string, file: string, revision = 'main'): string {
  const host = env.remoteHost.endsWith('/') ? env.remoteHost : `${env.remoteHost}/`;
  return host + env.remotePathTemplate.replaceAll('{model}', id).replaceAll('{revision}', encodeURIComponent(revision)) + file;
}

/** Where a Hub id lives in the cache: `<cacheDir>/hub/<owner>/<name>`. */
export function hubDir(cacheDir: string, id: string): string {
  return path.join(cacheDir, 'hub', ...id.split('/'));
}

export async function downloadHubModel(id: string, dtype: Dtype, opts: DownloadOptions): Promise<string> {
  const dir = hubDir(opts.cacheDir, id);
  const onnxFile = `onnx/${onnxFileName(dtype)}`;
  const complete = path.join(dir, `.complete-${dtype}`);
  if (existsSync(complete)) return dir;
  if (!opts.allowRemote) {
    throw new EngineError(
      'OFFLINE',
      `${id} (${dtype}) is not in the cache and downloads are off; allow downloads, or download the model on a connected machine and point the model setting at its folder`,
    );
  }
  const progress = new Progress(opts.onProgress);
  for (const file of REQUIRED) await fetchFile(id, file, dir, true, opts, progress);
  for (const file of OPTIONAL) await fetchFile(id, file, dir, false, opts, progress);
  await fetchFile(id, onnxFile, dir, true, opts, progress);
  const graph = decodeModel(readFileSync(path.join(dir, onnxFile)), `${id}/${onnxFile}`);
  const locations = new Set<string>();
  for (const t of graph.graph!.initializer ?? []) {
    const loc = t.externalData?.find((e) => e.key === 'location')?.value;
    if (loc) locations.add(loc);
  }
  for (const loc of locations) {
    if (path.isAbsolute(loc) || loc.split(/[\\/]/).includes('..')) {
      throw new EngineError('MODEL_INVALID', `${id}/${onnxFile} names external data '${loc}' outside its folder; refusing to download it`);
    }
    await fetchFile(id, `onnx/${loc}`, dir, true, opts, progress);
  }
  await fs.writeFile(complete, new Date().toISOString());
  opts.onProgress?.(`Downloaded ${id}`, 1);
  return dir;
}

/** Fraction over bytes of the files seen so far; monotonic because it never reports a lower value. */
class Progress {
  private done = 0;
  private total = 0;
  private last = 0;
  constructor(private readonly report?: (message: string, fraction?: number) => void) {}
  start(size: number) {
    this.total += size;
  }
  advance(file: string, bytes: number) {
    this.done += bytes;
    const f = this.total > 0 ? Math.min(0.99, this.done / this.total) : 0;
    if (f >= this.last) {
      this.last = f;
      this.report?.(`Downloading ${file}`, f);
    }
  }
}

async function fetchFile(id: string, file: string, dir: string, required: boolean, opts: DownloadOptions, progress: Progress): Promise<void> {
  const target = path.join(dir, file);
  if (existsSync(target)) return;
  const url = hubUrl(id, file, opts.revision);
  let res: Response;
  try {
    res = await fetch(url, { signal: opts.signal });
  } catch (e) {
    if (opts.signal?.aborted) throw new EngineError('CANCELLED', 'download cancelled');
    throw new EngineError(
      'OFFLINE',
      `cannot reach ${new URL(url).host} to download ${id}/${file} (${(e as Error).message}); check the network or point the model setting at a local folder`,
    );
  }
  if (res.status === 404) {
    if (!required) return;
    throw new EngineError('NOT_FOUND', `${id} has no ${file} on the Hub (404 for ${url}); check the id, or choose a dtype the repository provides`);
  }
  if (!res.ok || !res.body) throw new EngineError('OFFLINE', `downloading ${id}/${file} failed: HTTP ${res.status} ${res.statusText}`);
  const expected = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(expected)) progress.start(expected);
  await fs.mkdir(path.dirname(target), { recursive: true });
  const partial = `${target}.part-${process.pid}`;
  let received = 0;
  try {
    const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream);
    body.on('data', (chunk: Buffer) => {
      received += chunk.length;
      progress.advance(file, chunk.length);
    });
    await pipeline(body, createWriteStream(partial), { signal: opts.signal });
    if (Number.isFinite(expected) && received !== expected) {
      throw new EngineError('OFFLINE', `download of ${id}/${file} was cut short: ${received} of ${expected} bytes`);
    }
    await fs.rename(partial, target);
  } catch (e) {
    await fs.rm(partial, { force: true });
    if (opts.signal?.aborted) throw new EngineError('CANCELLED', 'download cancelled');
    throw e;
  }
}
