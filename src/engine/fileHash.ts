// Digests of files on disk, streamed: model graphs and weights can be gigabytes.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/**
 * The hex digest of a file (sha256 unless `algorithm` says otherwise), with `prefix` hashed first
 * (git's blob header). Read in chunks, so a cancel note is seen between them: the signal destroys
 * the stream (an AbortError).
 */
export async function hashFile(file: string, opts: { algorithm?: string; prefix?: string; signal?: AbortSignal } = {}): Promise<string> {
  const hash = createHash(opts.algorithm ?? 'sha256').update(opts.prefix ?? '');
  for await (const chunk of createReadStream(file, { signal: opts.signal })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
