// Files the engine and the CLI write for users (direction files and their data, CLI outputs): each
// written whole to a temporary sibling, then renamed over its name, so a crash or a kill never
// leaves a half-written file under the real name.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { EngineError } from './model/errors';

/**
 * Writes every file to its temp name first and renames them only when all are written, in order:
 * files that belong together (a direction document and its data file) change within microseconds
 * of each other, and a mismatch from a crash in between is caught by their checksum on load.
 */
export async function writeFilesAtomic(files: { file: string; data: string | Uint8Array }[]): Promise<void> {
  const temps = files.map(({ file }) => `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    for (const [i, { file, data }] of files.entries()) {
      await fs.mkdir(path.dirname(file), { recursive: true });
      await fs.writeFile(temps[i], data);
    }
    for (const [i, { file }] of files.entries()) await fs.rename(temps[i], file);
  } catch (e) {
    await Promise.all(temps.map((t) => fs.rm(t, { force: true })));
    throw new EngineError('BAD_REQUEST', `cannot write ${files.map((f) => f.file).join(' and ')}: ${(e as Error).message}`);
  }
}
