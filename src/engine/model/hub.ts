// Downloads a Hub model into the Hugging Face cache (see hfCache.ts), in transformers.js layout. The
// URL comes from HF_ENDPOINT if set, else transformers.js's own `env.remoteHost` /
// `env.remotePathTemplate` (so a mirror set either way is honoured); the transfer itself is done
// here because neither transformers.js (no exported downloader) nor @huggingface/hub 2.17
// (downloadFileToCacheDir: no progress, no cancellation, no resume, no hash check, and a snapshot
// named after the file's last commit rather than the revision's) does what we need: per-file
// progress, cancellation, proxies, integrity checks, resume and clean-up.
// Which external-data files to fetch is read from the downloaded graph itself, not guessed.
//
// Network rules: requests go through undici's EnvHttpProxyAgent (HTTPS_PROXY / HTTP_PROXY /
// NO_PROXY, which the extension fills from VS Code's http.proxy settings; Node's own fetch ignores
// them). Redirects are followed by hand so the Hub's X-Linked-Etag / X-Linked-Size / ETag headers
// are read before the CDN answers, and so HF_TOKEN only ever goes to the Hub's own origin. Every
// file is written to a part file private to this download, checked against the size and hash the
// Hub declared, and only then renamed into place: a file at its final name is always complete.
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { env } from '@huggingface/transformers';
import { type Dispatcher, EnvHttpProxyAgent, request } from 'undici';
import { type Dtype, PROXY_STRICT_SSL_ENV } from '../../protocol';
import { removeOrphans } from '../atomicWrite';
import { hashFile } from '../fileHash';
import { scanExternalData, unsafeLocation } from '../onnx/scan';
import { EngineError } from './errors';
import { blobLink, COMMIT, hfToken, repoFolder } from './hfCache';
import { embedFileName, onnxFileName, splitDecoderFileName } from './layout';

const REQUIRED = ['config.json', 'tokenizer.json', 'tokenizer_config.json'];
const OPTIONAL = ['generation_config.json', 'special_tokens_map.json', 'chat_template.jinja'];
/** Tries per file; a transfer cut mid-file continues with a Range request from the bytes on disk. */
export const ATTEMPTS = 3;
const RETRY_DELAY_MS = 300;
const MAX_REDIRECTS = 5;
/** A stalled connection fails (and is retried) after this long instead of hanging the progress bar. */
const STALL_MS = 60_000;

export interface DownloadOptions {
  cacheDir: string;
  allowRemote: boolean;
  onProgress?: (message: string, fraction?: number) => void;
  signal?: AbortSignal;
  revision?: string;
}

/** The Hub (or mirror) base URL, with a trailing slash. */
export function hubBase(): string {
  const base = process.env.HF_ENDPOINT?.trim() || env.remoteHost;
  return base.endsWith('/') ? base : `${base}/`;
}

export function hubUrl(id: string, file: string, revision = 'main'): string {
  const repoPath = env.remotePathTemplate.replaceAll('{model}', id).replaceAll('{revision}', encodeURIComponent(revision));
  return hubBase() + repoPath + file.split('/').map(encodeURIComponent).join('/');
}

/** Where earlier versions kept a Hub model: `<cacheDir>/hub/<owner>/<name>`, complete when `.complete-<dtype>` exists. */
export function legacyHubDir(cacheDir: string, id: string, dtype: Dtype): string | undefined {
  const dir = path.join(cacheDir, 'hub', ...id.split('/'));
  return existsSync(path.join(dir, `.complete-${dtype}`)) ? dir : undefined;
}

/** A model in the Hugging Face cache: its snapshot folder and the commit it holds (unknown from a mirror that does not say). */
export interface HubSnapshot {
  dir: string;
  commit?: string;
}

/**
 * Downloads what `dtype` needs of the Hub model `id` into the Hugging Face cache `opts.cacheDir`,
 * in its standard layout: each verified file becomes blobs/<its hash> with a relative link from
 * snapshots/<commit>/<file>, and refs/<revision> names the commit once every file is in place.
 * The first answer names the commit the revision points at; every later file is asked for at that
 * commit, so one snapshot never mixes two. Files the snapshot already holds are not fetched again.
 */
export async function downloadHubModel(id: string, dtype: Dtype, opts: DownloadOptions): Promise<HubSnapshot> {
  const repo = repoFolder(opts.cacheDir, id);
  const onnxFile = `onnx/${onnxFileName(dtype)}`;
  const why = offlineReason(opts);
  if (why) throw new EngineError('OFFLINE', `${id} (${dtype}) is not in the Hugging Face cache (${repo}) and ${why}, or download the model on a connected machine (\`hf download ${id}\`) and point the model setting at its folder`);
  const requested = opts.revision ?? 'main';
  const unsafe = unsafeLocation(requested);
  if (unsafe) throw new EngineError('BAD_REQUEST', `the revision '${requested}' ${unsafe}`);
  const blobs = path.join(repo, 'blobs');
  await fs.mkdir(blobs, { recursive: true });
  const net = connect();
  let revision = requested;
  let snap: HubSnapshot | undefined;
  try {
    const progress = new Progress(opts.onProgress, (label) => label.startsWith(`${id}/onnx/`));
    // Optional files the repository lacks are remembered in .no_exist/<commit>/, as huggingface_hub does.
    const noExist = (file: string) => path.join(repo, '.no_exist', path.basename(snap!.dir), file);
    const get = async (file: string, required: boolean) => {
      if (snap && (existsSync(path.join(snap.dir, file)) || existsSync(noExist(file)))) return;
      const found = await fetchFile(net, id, file, path.join(blobs, path.basename(file)), required, { ...opts, revision }, progress, async (partial, meta) => {
        if (!snap) {
          if (meta.commit) revision = meta.commit;
          snap = { dir: path.join(repo, 'snapshots', revision), ...(meta.commit ? { commit: meta.commit } : {}) };
        }
        await storeBlob(partial, meta, blobs, snap.dir, file);
      });
      if (!found && snap) {
        await fs.mkdir(path.dirname(noExist(file)), { recursive: true });
        await fs.writeFile(noExist(file), '');
      }
    };
    for (const file of REQUIRED) await get(file, true);
    for (const file of OPTIONAL) await get(file, false);
    const dir = snap!.dir;
    // The graph and the data file exporters name `<graph>_data`: their sizes are asked first.
    const plan = async (graph: string) => {
      for (const file of [graph, `${graph}_data`]) {
        if (existsSync(path.join(dir, file))) continue;
        const size = await declaredSize(net, hubUrl(id, file, revision), opts.signal);
        if (size !== undefined) progress.plan(`${id}/${file}`, size);
      }
    };
    await plan(onnxFile);
    await get(onnxFile, false);
    let graphs = [onnxFile];
    if (!existsSync(path.join(dir, onnxFile))) {
      // No single graph: a multimodal export's split layout (embed_tokens + decoder_model_merged).
      const [embed, decoder] = [`onnx/${embedFileName(dtype)}`, `onnx/${splitDecoderFileName(dtype)}`];
      await plan(embed);
      await get(embed, false);
      if (!existsSync(path.join(dir, embed))) {
        throw new EngineError('NOT_FOUND', `${id}/${onnxFile} is not on the Hub (404 for ${hubUrl(id, onnxFile, revision)}), nor is the split pair ${embed} + ${decoder}; check the id, or choose a dtype the repository provides`);
      }
      await plan(decoder);
      await get(decoder, true);
      graphs = [embed, decoder];
    }
    for (const graph of graphs) {
      // Every tensor's external data (subgraphs and Constants too), read without decoding the weights.
      let refs;
      try {
        refs = scanExternalData(path.join(dir, graph), `${id}/${graph}`);
      } catch (e) {
        throw new EngineError('MODEL_INVALID', (e as Error).message);
      }
      for (const loc of new Set(refs.map((r) => r.location))) {
        const unsafe = unsafeLocation(loc);
        if (unsafe) throw new EngineError('MODEL_INVALID', `${id}/${graph} names external data '${loc}', which ${unsafe}; refusing to download it`);
        await get(`onnx/${loc}`, true);
      }
    }
    // Written last, after every file is verified and linked: a ref never names a snapshot still being filled.
    if (snap!.commit && requested !== snap!.commit) {
      await fs.mkdir(path.dirname(path.join(repo, 'refs', requested)), { recursive: true });
      await fs.writeFile(path.join(repo, 'refs', requested), snap!.commit);
    }
    opts.onProgress?.(`Downloaded ${id}`, 1);
    return snap!;
  } finally {
    void net.dispatcher.destroy();
  }
}

/**
 * Moves a verified download to blobs/<hash> (the hash the Hub declared, else its sha256, as
 * huggingface_hub names blobs) and links `file` of the snapshot to it. Where links cannot be made
 * (Windows without developer mode) the snapshot gets a copy, as huggingface_hub does.
 */
async function storeBlob(partial: string, meta: Declared, blobs: string, snapshot: string, file: string): Promise<void> {
  const name = meta.sha256 ?? meta.gitSha1 ?? (await hashFile(partial));
  const blob = path.join(blobs, name);
  if (existsSync(blob)) await fs.rm(partial, { force: true });
  else await fs.rename(partial, blob);
  const target = path.join(snapshot, file);
  await fs.mkdir(path.dirname(target), { recursive: true });
  await fs.symlink(blobLink(file, name), target).catch(async (e: NodeJS.ErrnoException) => {
    if (e.code === 'EEXIST') return;
    if (e.code !== 'EPERM') throw e;
    await fs.copyFile(blob, target);
  });
}

/** Why downloads are not allowed now (the caller's switch or HF_HUB_OFFLINE), or undefined. */
function offlineReason(opts: Pick<DownloadOptions, 'allowRemote'>): string | undefined {
  const hfOffline = process.env.HF_HUB_OFFLINE?.trim() ?? '';
  if (!opts.allowRemote) return 'downloads are off; allow them (the refusalLens.allowDownloads setting, or leave out --offline on the command line)';
  if (/^(1|true|yes|on)$/i.test(hfOffline)) return `HF_HUB_OFFLINE=${hfOffline} is set in the environment; unset it`;
  return undefined;
}

/** Where a Hub dataset lives in the cache: `<cacheDir>/datasets/<owner>/<name>`. */
export function hubDatasetDir(cacheDir: string, id: string): string {
  return path.join(cacheDir, 'datasets', ...id.split('/'));
}

/**
 * Downloads the files of the Hub dataset repository `id` that `pick` chooses from its file list
 * (the Hub's dataset API), through the same transfer as models: proxy, token, integrity checks,
 * resume, progress. The list is kept beside the files, so a dataset once downloaded loads offline.
 * Returns the local paths of the chosen files.
 */
export async function downloadHubDataset(id: string, pick: (files: string[]) => string[], opts: DownloadOptions): Promise<string[]> {
  const dir = hubDatasetDir(opts.cacheDir, id);
  const listing = path.join(dir, '.files.json');
  const local = (files: string[]) => files.map((f) => path.join(dir, f));
  if (existsSync(listing)) {
    const chosen = pick(JSON.parse(await fs.readFile(listing, 'utf8')) as string[]);
    if (local(chosen).every((f) => existsSync(f))) return local(chosen);
  }
  const why = offlineReason(opts);
  if (why) throw new EngineError('OFFLINE', `the dataset ${id} is not in the cache (${dir}) and ${why}`);
  const net = connect();
  try {
    const url = `${hubBase()}api/datasets/${id}${opts.revision ? `/revision/${encodeURIComponent(opts.revision)}` : ''}`;
    let answer: Answer;
    try {
      answer = await get(net, url, { accept: 'application/json' }, opts.signal);
    } catch (e) {
      if (opts.signal?.aborted) throw new EngineError('CANCELLED', 'download cancelled');
      const where = new URL(url);
      throw new EngineError('OFFLINE', `cannot list the dataset ${id} at ${where.host} (${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message})${net.proxyNote(where)}`);
    }
    const { res } = answer;
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw httpError(res.statusCode, '', `the dataset ${id}`, url);
    }
    const info = (await res.body.json()) as { siblings?: { rfilename?: unknown }[] };
    // Names that could leave the cache folder are not files of ours.
    const files = (info.siblings ?? []).map((f) => f.rfilename).filter((f): f is string => typeof f === 'string' && !unsafeLocation(f));
    const chosen = pick(files);
    const progress = new Progress(opts.onProgress, () => true);
    for (const file of chosen) {
      const target = path.join(dir, file);
      if (existsSync(target)) continue;
      await fetchFile(net, `datasets/${id}`, file, target, true, opts, progress, (partial) =>
        fs.rename(partial, target).catch((e: unknown) => {
          // Windows refuses to replace a file another process holds open; that file is a verified copy.
          if (!existsSync(target)) throw e;
        }),
      );
    }
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(listing, JSON.stringify(files));
    opts.onProgress?.(`Downloaded ${id}`, 1);
    return local(chosen);
  } finally {
    void net.dispatcher.destroy();
  }
}

/** How this download reaches the Hub: the proxy-aware dispatcher, the Hub's origin and its token. */
interface Net {
  dispatcher: Dispatcher;
  hubOrigin: string;
  token?: string;
  /** The configured proxies, for error messages (credentials masked). */
  proxyNote: (url: URL) => string;
}

function connect(): Net {
  const e = process.env;
  const httpProxy = e.http_proxy || e.HTTP_PROXY || undefined;
  const httpsProxy = e.https_proxy || e.HTTPS_PROXY || httpProxy;
  const noProxy = e.no_proxy || e.NO_PROXY || '';
  const strict = !/^(0|false|no|off)$/i.test(e[PROXY_STRICT_SSL_ENV]?.trim() ?? '');
  // Only connections through the proxy are relaxed: that is what VS Code's proxyStrictSSL is about
  // (a corporate proxy re-signing TLS with its own certificate).
  const tls = strict ? {} : { proxyTls: { rejectUnauthorized: false }, requestTls: { rejectUnauthorized: false } };
  const masked = (p: string) => p.replace(/\/\/[^@/]*@/, '//***@');
  let dispatcher: Dispatcher;
  try {
    dispatcher = new EnvHttpProxyAgent({ httpProxy, httpsProxy, noProxy, headersTimeout: STALL_MS, bodyTimeout: STALL_MS, ...tls });
  } catch (err) {
    throw new EngineError('OFFLINE', `the proxy '${masked(httpsProxy ?? '')}' (HTTPS_PROXY / HTTP_PROXY, VS Code's http.proxy) is not usable: ${(err as Error).message}; fix or clear the proxy setting`);
  }
  return {
    dispatcher,
    hubOrigin: new URL(hubBase()).origin,
    token: hfToken(),
    proxyNote(url) {
      const proxy = url.protocol === 'https:' ? httpsProxy : httpProxy;
      if (!proxy) return '';
      return ` through the proxy ${masked(proxy)}${noProxy ? ` (unless NO_PROXY=${noProxy} covers the host)` : ''}; check the proxy settings (VS Code's http.proxy, or HTTPS_PROXY / HTTP_PROXY / NO_PROXY)`;
    },
  };
}

/**
 * Fraction over the bytes of the model's big files (the graph and its external data), so the bar
 * moves evenly while they download; small files only change the message. Their sizes are planned
 * up front where the Hub can tell them, else added as each file starts. Monotonic: it never reports
 * a lower value (a file that was not planned can only slow it down).
 */
class Progress {
  private done = 0;
  private total = 0;
  private last = 0;
  private readonly planned = new Set<string>();
  constructor(
    private readonly report: ((message: string, fraction?: number) => void) | undefined,
    private readonly counts: (label: string) => boolean,
  ) {}
  plan(label: string, size: number) {
    this.planned.add(label);
    this.total += size;
  }
  start(label: string, size: number) {
    if (this.counts(label) && !this.planned.has(label)) this.total += size;
  }
  advance(label: string, bytes: number) {
    if (this.counts(label)) this.done += bytes;
    const f = this.total > 0 ? Math.min(0.99, this.done / this.total) : 0;
    if (f >= this.last) this.last = f;
    this.report?.(`Downloading ${label}`, this.last);
  }
  note(message: string) {
    this.report?.(message, this.last);
  }
}

/** What the Hub declares about a file: LFS files carry X-Linked-Size and X-Linked-Etag (sha256), git files an ETag that is the git blob sha1. */
interface Declared {
  size?: number;
  sha256?: string;
  gitSha1?: string;
  /** The commit the requested revision resolved to (X-Repo-Commit). */
  commit?: string;
}

function declared(headers: Dispatcher.ResponseData['headers'], statusCode: number): Declared {
  const one = (name: string) => {
    const v = headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const out: Declared = {};
  const linkedSize = Number(one('x-linked-size') ?? NaN);
  if (Number.isSafeInteger(linkedSize)) out.size = linkedSize;
  else if (statusCode === 200 && Number.isSafeInteger(Number(one('content-length') ?? NaN))) out.size = Number(one('content-length'));
  // A weak ETag (W/...) promises equivalence, not identical bytes: no hash from it.
  const etag = (one('x-linked-etag') ?? one('etag'))?.trim();
  const hex = etag && !etag.startsWith('W/') ? etag.replaceAll('"', '').toLowerCase() : '';
  if (/^[0-9a-f]{64}$/.test(hex)) out.sha256 = hex;
  else if (/^[0-9a-f]{40}$/.test(hex) && one('x-linked-etag') === undefined) out.gitSha1 = hex;
  const commit = one('x-repo-commit')?.trim().toLowerCase();
  if (commit && COMMIT.test(commit)) out.commit = commit;
  return out;
}

interface Answer {
  res: Dispatcher.ResponseData;
  url: URL;
  /** Merged over the redirect chain's responses from the Hub's origin; the first statement wins. */
  declared: Declared;
}

/** GET (or HEAD) following redirects by hand: the Hub's own headers are read on the way and the token stays on its origin. */
async function get(net: Net, start: string, headers: Record<string, string>, signal?: AbortSignal, method: 'GET' | 'HEAD' = 'GET'): Promise<Answer> {
  // A HEAD stays on the Hub: its own answer (a redirect carrying X-Linked-Size, or a 200) is the one that counts.
  let url = new URL(start);
  let meta: Declared = {};
  for (let hop = 0; ; hop++) {
    const onHub = url.origin === net.hubOrigin;
    const res = await request(url, {
      method,
      dispatcher: net.dispatcher,
      signal,
      // identity: the sizes compared below are of the file itself, not of a compressed transfer.
      headers: { 'accept-encoding': 'identity', ...headers, ...(onHub && net.token ? { authorization: `Bearer ${net.token}` } : {}) },
    });
    if (onHub) meta = { ...declared(res.headers, res.statusCode), ...meta };
    const location = res.headers.location;
    if (res.statusCode >= 300 && res.statusCode < 400 && typeof location === 'string' && method === 'GET') {
      await res.body.dump();
      if (hop === MAX_REDIRECTS) throw new EngineError('OFFLINE', `${start} redirects more than ${MAX_REDIRECTS} times; check the Hub address (HF_ENDPOINT) or the proxy`);
      const next = new URL(location, url);
      // The hashes were declared over TLS; the bytes must not then travel in the clear.
      if (url.protocol === 'https:' && next.protocol !== 'https:') throw new EngineError('OFFLINE', `refusing to follow a redirect from ${url.origin} to ${next.origin} (https to ${next.protocol.slice(0, -1)})`);
      url = next;
      continue;
    }
    return { res, url, declared: meta };
  }
}

/** The size the Hub declares for a file (a HEAD request), or undefined when it cannot say. */
async function declaredSize(net: Net, url: string, signal?: AbortSignal): Promise<number | undefined> {
  try {
    const { res, declared: meta } = await get(net, url, {}, signal, 'HEAD');
    await res.body.dump();
    return res.statusCode < 400 ? meta.size : undefined;
  } catch {
    // Only the progress bar's scale depends on it; the download itself reports real failures.
    if (signal?.aborted) throw new EngineError('CANCELLED', 'download cancelled');
    return undefined;
  }
}

/** Bytes of a file, 0 when it does not exist. */
async function sizeOf(file: string): Promise<number> {
  return fs.stat(file).then(
    (s) => s.size,
    () => 0,
  );
}

/**
 * Brings `file` of the repository into a part file beside `partBase` (private to this download: two
 * processes, or two downloads in one, never write the same one), checks it against what the Hub
 * declared, and hands it to `place`, which moves it into the cache. Returns what the Hub declared,
 * or undefined for an optional file the repository lacks.
 */
async function fetchFile(
  net: Net,
  id: string,
  file: string,
  partBase: string,
  required: boolean,
  opts: DownloadOptions,
  progress: Progress,
  place: (partial: string, declared: Declared) => Promise<void>,
): Promise<Declared | undefined> {
  await fs.mkdir(path.dirname(partBase), { recursive: true });
  await removeOrphans(path.dirname(partBase), `${path.basename(partBase)}.part-`);
  const partial = `${partBase}.part-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const expected = await transfer(net, hubUrl(id, file, opts.revision), `${id}/${file}`, partial, required, opts.signal, progress);
    if (!expected) return undefined;
    await verify(partial, expected, `${id}/${file}`);
    await place(partial, expected);
    return expected;
  } catch (e) {
    if (opts.signal?.aborted) throw new EngineError('CANCELLED', 'download cancelled');
    throw e;
  } finally {
    await fs.rm(partial, { force: true });
  }
}

/**
 * Brings `url` into `partial`, retrying a broken transfer with a Range request from the bytes on
 * disk (206 appends, 200 starts over). Returns what the Hub declared about the file, or undefined
 * for an optional file the repository lacks. EngineErrors are final; other errors are transport
 * failures and are retried.
 */
async function transfer(net: Net, url: string, label: string, partial: string, required: boolean, signal: AbortSignal | undefined, progress: Progress): Promise<Declared | undefined> {
  let known: { meta: Declared; total?: number } | undefined;
  let counted = 0; // bytes of this file in the progress total
  for (let attempt = 1; ; attempt++) {
    try {
      const have = await sizeOf(partial);
      // Everything was on disk when the connection broke (a Range request would get a 416).
      if (known && have > 0 && have === known.total) return known.meta;
      const { res, url: from, declared: meta } = await get(net, url, have > 0 ? { range: `bytes=${have}-` } : {}, signal);
      const { statusCode } = res;
      if (statusCode !== 200 && statusCode !== 206) {
        await res.body.dump();
        if (statusCode === 404 && !required) return undefined;
        if (statusCode === 416) {
          await fs.rm(partial, { force: true });
          throw new Error(`the server refused to continue from byte ${have} (HTTP 416)`);
        }
        throw httpError(statusCode, res.statusText, label, url);
      }
      // A 206 must continue exactly where the file on disk ends.
      const range = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
      if (statusCode === 206 && Number(range?.[1]) !== have) {
        await res.body.dump();
        await fs.rm(partial, { force: true });
        throw new Error(`the server answered the range request from byte ${have} with '${res.headers['content-range']}'`);
      }
      const offset = statusCode === 206 ? have : 0;
      const length = Number(res.headers['content-length'] ?? NaN);
      const total = meta.size ?? (Number.isSafeInteger(length) ? offset + length : undefined);
      if (!known && total !== undefined) progress.start(label, total);
      known = { meta, total };
      if (counted !== offset) progress.advance(label, offset - counted);
      counted = offset;
      res.body.on('data', (chunk: Buffer) => {
        counted += chunk.length;
        progress.advance(label, chunk.length);
      });
      await pipeline(res.body, createWriteStream(partial, { flags: offset ? 'a' : 'w' }), { signal });
      const got = await sizeOf(partial);
      if (total !== undefined && got < total) throw new Error(`the transfer from ${from.host} ended after ${got} of ${total} bytes`);
      return meta;
    } catch (e) {
      if (signal?.aborted || e instanceof EngineError) throw e;
      const cause = (e as Error & { cause?: Error }).cause?.message ?? (e as Error).message;
      const where = new URL(url);
      if (attempt === ATTEMPTS) {
        throw new EngineError(
          'OFFLINE',
          `cannot download ${label} from ${where.host} (${cause}; tried ${ATTEMPTS} times)${net.proxyNote(where)}; check the network or point the model setting at a local folder`,
        );
      }
      progress.note(`Connection lost while downloading ${label} (${cause}); retrying (${attempt + 1} of ${ATTEMPTS})`);
      await sleep(RETRY_DELAY_MS * attempt, undefined, { signal });
    }
  }
}

function httpError(status: number, statusText: string, label: string, url: string): EngineError {
  if (status === 404) return new EngineError('NOT_FOUND', `${label} is not on the Hub (404 for ${url}); check the id, or choose a dtype the repository provides`);
  if (status === 401 || status === 403) {
    return new EngineError('OFFLINE', `the Hub refused ${label} (HTTP ${status}): the repository may be gated or private; accept its terms on the Hub and set HF_TOKEN to an access token`);
  }
  return new EngineError('OFFLINE', `downloading ${label} failed: HTTP ${status} ${statusText} from ${url}`);
}

/** The file on disk against what the Hub declared; a mismatch is INTEGRITY (the caller deletes the file). */
async function verify(file: string, expected: Declared, label: string): Promise<void> {
  const size = await sizeOf(file);
  const fail = (what: string, want: string | number, got: string | number) =>
    new EngineError('INTEGRITY', `${label} does not match the Hub: expected ${what} ${want}, got ${got}; the download was deleted, try again (if it keeps failing, a proxy or mirror is altering the file)`);
  if (expected.size !== undefined && size !== expected.size) throw fail('size', expected.size, size);
  if (expected.sha256) {
    const got = await hashFile(file);
    if (got !== expected.sha256) throw fail('sha256', expected.sha256, got);
  } else if (expected.gitSha1) {
    const got = await hashFile(file, { algorithm: 'sha1', prefix: `blob ${size}\0` });
    if (got !== expected.gitSha1) throw fail('git blob sha1', expected.gitSha1, got);
  }
}
