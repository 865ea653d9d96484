// The learned organism (scripts/learned-organism): trained with PyTorch once and cached under a
// folder named by the hash of the training scripts, so a changed recipe retrains and an unchanged one
// is reused (CI builds it once per cache). The PyTorch reference of Arditi et al.'s pipeline
// (torch_reference.py beside this file) runs on the same weights.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO } from './paths';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ensureTorch } = require('../../scripts/ensure-test-deps.cjs') as { ensureTorch(): string };

export const LEARNED_SCRIPTS = path.join(REPO, 'scripts', 'learned-organism');
const COMPLETE = '.refusal-lens-complete';
// One thread: OpenMP spin-waiting on a busy 2-core machine made two threads about 8x slower.
const TORCH_ENV = { ...process.env, OMP_NUM_THREADS: '1', PYTHONDONTWRITEBYTECODE: '1' };

function scriptsHash(): string {
  const h = createHash('sha256');
  for (const f of readdirSync(LEARNED_SCRIPTS).filter((n) => n.endsWith('.py')).sort()) {
    h.update(`${f}\0`).update(readFileSync(path.join(LEARNED_SCRIPTS, f))).update('\0');
  }
  return h.digest('hex').slice(0, 16);
}

export interface LearnedOrganism {
  /** Folder with the base/, aligned-full/ and aligned-early/ model folders and build.json (recipe, timings, behaviour in torch). */
  root: string;
  build: { recipe: Record<string, number>; base_seconds: number; refusal_rates: Record<string, Record<string, number>> } & Record<string, unknown>;
}

/** Builds the organisms (see build.py) unless the cache holds them made by these scripts (a few minutes, once). */
export function learnedOrganism(): LearnedOrganism {
  const python = ensureTorch();
  const root = path.join(process.env.REFUSAL_LENS_LEARNED_CACHE ?? path.join(os.homedir(), '.cache', 'refusal-lens'), `learned-${scriptsHash()}`);
  if (!existsSync(path.join(root, COMPLETE))) {
    if (existsSync(root)) throw new Error(`${root} exists but is not a complete build made by these scripts: delete it`);
    const stage = `${root}.partial-${process.pid}`;
    mkdirSync(stage, { recursive: true });
    console.log(`learned organisms: training into ${stage} (a few minutes, once per version of ${LEARNED_SCRIPTS})`);
    const r = spawnSync(python, [path.join(LEARNED_SCRIPTS, 'build.py'), '--out', stage], { env: TORCH_ENV, encoding: 'utf8', maxBuffer: 64 << 20 });
    if (r.status !== 0) {
      rmSync(stage, { recursive: true, force: true });
      throw new Error(`training the learned organism failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`}):\n${`${r.stdout}${r.stderr}`.slice(-4000)}`);
    }
    writeFileSync(path.join(stage, COMPLETE), new Date().toISOString());
    renameSync(stage, root);
  }
  return { root, build: JSON.parse(readFileSync(path.join(root, 'build.json'), 'utf8')) };
}

/** Runs the PyTorch reference pipeline on a request (see torch_reference.py) and returns its JSON. */
export function torchReference<T>(request: object, workDir: string): T {
  const file = path.join(workDir, `reference-request-${Date.now()}.json`);
  writeFileSync(file, JSON.stringify({ scripts: LEARNED_SCRIPTS, ...request }));
  const r = spawnSync(ensureTorch(), [path.join(REPO, 'test', 'support', 'torch_reference.py'), file], { env: TORCH_ENV, encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`the PyTorch reference failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`}):\n${r.stderr.slice(-4000)}`);
  return JSON.parse(r.stdout) as T;
}
