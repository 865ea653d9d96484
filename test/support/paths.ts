// Locations shared by the tests. The real exporter graphs live beside the repo in ../shared (not in
// a user's checkout), so tests that need them skip with a reason when the folder is absent.
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const REPO = path.resolve(__dirname, '..', '..');
export const REAL_MODELS = path.resolve(REPO, '..', 'shared', 'real-models');

/** `{ skip: reason }` for node:test when the real models are missing, else `{}`. */
export function needsRealModels(): { skip?: string } {
  return existsSync(REAL_MODELS) ? {} : { skip: `real exporter graphs not found at ${REAL_MODELS} (they live in ../shared beside the repo)` };
}

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `refusal-lens-${prefix}-`));
}
