// A stand-in for the Hugging Face Hub on loopback (the real Hub is not reachable here), answering the
// way the Hub's resolve endpoint does ({hub}/{owner}/{name}/resolve/{revision}/{file}): git files
// (everything outside onnx/ but parquet) with a 200 whose ETag is their git blob sha1; LFS files (onnx/*, *.parquet) with
// a 302 to a "CDN" on another port carrying X-Linked-Etag (the sha256, quoted) and X-Linked-Size.
// Both servers honour Range requests. Faults are switched on per test through `faults`. Every resolve
// answer names the commit `main` points at (X-Repo-Commit), and files are served at that commit too.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export interface Seen {
  server: 'hub' | 'cdn';
  url: string;
  headers: http.IncomingHttpHeaders;
}

export interface Faults {
  /** Destroy the socket after `after` body bytes of `file`, for its next `times` responses. */
  cut?: { file: string; after: number; times: number };
  /** Send bodies this many bytes every 5 ms (so a test can act mid-transfer). */
  trickle?: number;
  /** Hold the responses for `file` until `count` requests for it have arrived, then send them all. */
  gate?: { file: string; count: number };
  /** The Hub declares no hash or size (a plain mirror), and the CDN's ETag looks like a sha1 but is not the file's. */
  bare?: boolean;
  /** LFS redirects go to this base URL instead of the CDN. */
  redirectTo?: string;
  /** The Hub answers every request with this status (401 for a gated repository, ...). */
  status?: number;
  /** Serve this file with one byte changed; the declared size and hash stay the real file's. */
  tamper?: string;
  /** Serve this file with one byte too many; the declared size and hash stay the real file's. */
  extra?: string;
  /** Answer Range requests with the whole file (a 200), as servers without range support do. */
  ignoreRange?: boolean;
  /** No X-Repo-Commit header (a plain mirror). */
  noCommit?: boolean;
}

export interface HubServer {
  /** Base URL of the Hub, with a trailing slash (for HF_ENDPOINT or env.remoteHost). */
  hub: string;
  cdn: string;
  seen: Seen[];
  faults: Faults;
  /** The commit `main` points at. */
  commit: string;
  close(): Promise<void>;
}

const isLfs = (file: string) => file.startsWith('onnx/') || file.endsWith('.parquet');

/** Every file under `dir`, as repository paths. */
export const listFiles = (dir: string, sub = ''): string[] =>
  readdirSync(path.join(dir, sub), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listFiles(dir, path.posix.join(sub, e.name)) : [path.posix.join(sub, e.name)]));

/**
 * Serves the folder `dir` as the Hub repository `repo`, revision main: owner/name for a model,
 * datasets/owner/name for a dataset (whose file list the dataset API, /api/datasets/owner/name, gives).
 */
export async function startHub(dir: string, repo: string, tls?: { key: string; cert: string }): Promise<HubServer> {
  const seen: Seen[] = [];
  const faults: Faults = {};
  const make = (handler: http.RequestListener) => (tls ? https.createServer(tls, handler) : http.createServer(handler));
  const commit = createHash('sha1').update(`commit of ${repo}`).digest('hex');
  const prefix = new RegExp(`^/${repo}/resolve/(main|${commit})/`);

  const held: (() => void)[] = [];
  const send = (req: http.IncomingMessage, res: http.ServerResponse, file: string, headers: http.OutgoingHttpHeaders): void => {
    const gate = faults.gate;
    if (gate?.file === file) {
      held.push(() => send(req, res, file, headers));
      if (held.length < gate.count) return;
      faults.gate = undefined;
      for (const release of held.splice(0)) release();
      return;
    }
    let body = readFileSync(path.join(dir, file));
    if (faults.tamper === file) body = Buffer.concat([body.subarray(0, -1), Buffer.from([body.at(-1)! ^ 0xff])]);
    if (faults.extra === file) body = Buffer.concat([body, Buffer.from([0])]);
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    let status = 200;
    if (range && !faults.ignoreRange) {
      const from = Number(range[1]);
      if (from >= body.length) {
        res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
        return;
      }
      headers['content-range'] = `bytes ${from}-${body.length - 1}/${body.length}`;
      body = body.subarray(from);
      status = 206;
    }
    res.writeHead(status, { ...headers, 'content-length': body.length, 'accept-ranges': 'bytes' });
    const cut = faults.cut?.file === file && faults.cut.times > 0 ? faults.cut : undefined;
    if (cut) cut.times--;
    const cutAt = cut?.after ?? Infinity;
    const step = faults.trickle ?? (cutAt < Infinity ? 256 : body.length);
    let at = 0;
    const next = () => {
      if (res.destroyed) return;
      if (at >= cutAt) {
        res.socket?.destroy();
        return;
      }
      if (at >= body.length) {
        res.end();
        return;
      }
      const end = Math.min(at + step, body.length, cutAt);
      res.write(body.subarray(at, end));
      at = end;
      if (faults.trickle) setTimeout(next, 5);
      else setImmediate(next);
    };
    next();
  };

  const repoCommit = () => (faults.noCommit ? {} : { 'x-repo-commit': commit });
  const hub = make((req, res) => {
    seen.push({ server: 'hub', url: req.url!, headers: req.headers });
    if (faults.status) {
      res.writeHead(faults.status).end();
      return;
    }
    if (req.url === `/api/${repo}`) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: repo.replace(/^datasets\//, ''), siblings: listFiles(dir).map((rfilename) => ({ rfilename })) }));
      return;
    }
    const at = prefix.exec(req.url!);
    const file = at ? decodeURIComponent(req.url!.slice(at[0].length)) : '';
    if (!file || !existsSync(path.join(dir, file))) {
      res.writeHead(404).end('Entry not found');
      return;
    }
    const bytes = readFileSync(path.join(dir, file));
    if (isLfs(file)) {
      res
        .writeHead(302, {
          location: `${faults.redirectTo ?? cdnBase}blobs/${file}?signature=loopback`,
          ...(faults.bare ? {} : { 'x-linked-etag': `"${createHash('sha256').update(bytes).digest('hex')}"`, 'x-linked-size': bytes.length }),
          ...repoCommit(),
        })
        .end();
      return;
    }
    const gitSha1 = createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
    send(req, res, file, { ...(faults.bare ? {} : { etag: `"${gitSha1}"` }), ...repoCommit() });
  });
  const cdn = make((req, res) => {
    seen.push({ server: 'cdn', url: req.url!, headers: req.headers });
    const file = decodeURIComponent(new URL(req.url!, 'http://x').pathname.replace(/^\/blobs\//, ''));
    if (!existsSync(path.join(dir, file))) {
      res.writeHead(404).end();
      return;
    }
    // A CDN's own ETag is not the Hub's hash (S3 uses an MD5); the client must not take it for one.
    send(req, res, file, { etag: `"${createHash(faults.bare ? 'sha1' : 'md5').update(file).digest('hex')}"` });
  });
  const listen = (s: http.Server) => new Promise<string>((r) => s.listen(0, '127.0.0.1', () => r(`${tls ? 'https' : 'http'}://127.0.0.1:${(s.address() as AddressInfo).port}/`)));
  const cdnBase = await listen(cdn);
  const hubBase = await listen(hub);
  return {
    hub: hubBase,
    cdn: cdnBase,
    seen,
    faults,
    commit,
    close: async () => {
      for (const s of [hub, cdn]) {
        s.closeAllConnections();
        await new Promise((r) => s.close(r));
      }
    },
  };
}
