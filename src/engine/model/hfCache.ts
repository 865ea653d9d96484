// The standard Hugging Face cache, shared with `hf download`, huggingface_hub and transformers:
// <cache>/models--<owner>--<name>/{blobs/<hash>, snapshots/<commit>/<file> (a relative link into
// blobs/), refs/<revision> (the commit it points at)}. Where the cache is and which token to use
// follow huggingface_hub's own rules (HF_HUB_CACHE, HF_HOME, XDG_CACHE_HOME; HF_TOKEN, then the
// token file `hf auth login` writes), so a model fetched by any of those tools loads without a download.
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { unsafeLocation } from '../onnx/scan';

/** A full git commit id: what snapshot folders are named after. */
export const COMMIT = /^[0-9a-f]{40}$/;

const expand = (p: string) => (p === '~' || p.startsWith(`~${path.sep}`) || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p);
const fromEnv = (name: string) => process.env[name]?.trim() || undefined;

/** $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface. */
export function hfHome(): string {
  return expand(fromEnv('HF_HOME') ?? path.join(fromEnv('XDG_CACHE_HOME') ?? path.join(os.homedir(), '.cache'), 'huggingface'));
}

/** $HF_HUB_CACHE (or its old name HUGGINGFACE_HUB_CACHE), else $HF_HOME/hub. */
export function hfHubCache(): string {
  return expand(fromEnv('HF_HUB_CACHE') ?? fromEnv('HUGGINGFACE_HUB_CACHE') ?? path.join(hfHome(), 'hub'));
}

/** HF_TOKEN (or the older names), else the file `hf auth login` writes ($HF_TOKEN_PATH or $HF_HOME/token). */
export function hfToken(): string | undefined {
  const env = fromEnv('HF_TOKEN') ?? fromEnv('HUGGING_FACE_HUB_TOKEN') ?? fromEnv('HF_ACCESS_TOKEN');
  if (env) return env;
  const file = expand(fromEnv('HF_TOKEN_PATH') ?? path.join(hfHome(), 'token'));
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The repository's folder in the cache: `models--owner--name`. */
export function repoFolder(cache: string, id: string): string {
  return path.join(cache, `models--${id.split('/').join('--')}`);
}

/** Where the file `file` of a snapshot links to, relative to the link (`../../blobs/<hash>` for a top-level file). */
export function blobLink(file: string, blob: string): string {
  return path.posix.join(...file.split('/').map(() => '..'), '..', 'blobs', blob);
}

/**
 * The snapshot folder `revision` (a commit, or a branch or tag named in refs/) of `id` in the
 * cache, with its commit; undefined when the cache does not have it.
 */
export function cachedSnapshot(cache: string, id: string, revision = 'main'): { dir: string; commit: string } | undefined {
  const repo = repoFolder(cache, id);
  let commit = revision;
  if (!COMMIT.test(revision)) {
    if (unsafeLocation(revision)) return undefined;
    try {
      commit = readFileSync(path.join(repo, 'refs', revision), 'utf8').trim();
    } catch {
      return undefined;
    }
    if (!COMMIT.test(commit)) return undefined;
  }
  const dir = path.join(repo, 'snapshots', commit);
  return existsSync(dir) ? { dir, commit } : undefined;
}

/**
 * For a folder that is a snapshot of the cache (`…/models--o--n/snapshots/<name>`): the blobs/
 * folder its links may resolve into, and the commit it holds (when its name is one).
 */
export function snapshotOf(dir: string): { blobs: string; commit?: string } | undefined {
  const snapshots = path.dirname(dir);
  const repo = path.dirname(snapshots);
  if (path.basename(snapshots) !== 'snapshots' || !/^models--./.test(path.basename(repo))) return undefined;
  const name = path.basename(dir);
  return { blobs: path.join(repo, 'blobs'), ...(COMMIT.test(name) ? { commit: name } : {}) };
}
