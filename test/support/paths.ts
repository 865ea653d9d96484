// Locations shared by the tests. The real exporter graphs live beside the repo in ../shared (not in
// a user's checkout), so tests that need them skip with a reason when the folder is absent.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const REPO = path.resolve(__dirname, '..', '..');
export const REAL_MODELS = path.resolve(REPO, '..', 'shared', 'real-models');

/** `{ skip: reason }` for node:test when the real models are missing, else `{}`. */
export function needsRealModels(): { skip?: string } {
  return existsSync(REAL_MODELS) ? {} : { skip: `real exporter graphs not found at ${REAL_MODELS} (they live in ../shared beside the repo)` };
}

const made: string[] = [];

/**
 * A fresh folder under the system temp folder, removed when the test file's process exits
 * successfully (a full run makes hundreds, most of a gigabyte in all). After a failure they are kept
 * to look at, as they are with REFUSAL_LENS_KEEP_TEMP=1.
 */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `refusal-lens-${prefix}-`));
  if (made.length === 0) process.once('exit', removeTempDirs);
  made.push(dir);
  return dir;
}

function removeTempDirs(code: number): void {
  if (code !== 0 || process.env.REFUSAL_LENS_KEEP_TEMP) return;
  // Recursive removal unlinks symlinks (an installed-extension link to the repo) without following them.
  for (const dir of made) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch (e) {
      console.warn(`could not remove the test folder ${dir}: ${(e as Error).message}`);
    }
  }
}
