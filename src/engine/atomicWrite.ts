// Files the engine and the CLI write for users (direction files and their data, CLI outputs): each
// written whole to a temporary sibling, then renamed over its name, so a crash or a kill never
// leaves a half-written file under the real name. Temp files (and folders) carry the writer's pid,
// so those of a process killed while writing are recognised and removed by the next writer.
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
  for (const { file } of files) await removeOrphans(path.dirname(file), `${path.basename(file)}.tmp-`);
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

/** Removes the entries of `dir` named `<prefix><pid>-…` whose process no longer runs (killed while writing them). */
export async function removeOrphans(dir: string, prefix: string): Promise<void> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    const pid = name.startsWith(prefix) ? Number(name.slice(prefix.length).split('-')[0]) : NaN;
    if (Number.isSafeInteger(pid) && pid !== process.pid && !alive(pid)) await fs.rm(path.join(dir, name), { recursive: true, force: true });
  }
}

/** Whether a process with this id runs (one of another user counts as running). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
