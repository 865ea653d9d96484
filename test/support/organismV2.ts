// Planted organism v2 written as model folders (aligned and base) through src/modelgen's writer and
// loaded by the real engine: the ground truth the method-choice tests check against.
import path from 'node:path';
import { Engine } from '../../src/engine/engine';
import { buildOrganismV2, type GroundTruthV2, type OrganismV2, type OrganismV2Options, writeOrganism } from '../../src/modelgen/organism2';
import type { ExportStyle } from '../../src/modelgen';
import type { DecoderWeights } from '../../src/modelgen/weights';
import { tempDir } from './paths';

export interface LoadedOrganism {
  organism: OrganismV2;
  gt: GroundTruthV2;
  aligned: Engine;
  base: Engine;
  dirs: { root: string; aligned: string; base: string };
  dispose: () => Promise<void>;
}

/** `base` replaces the base variant's weights (e.g. a base model built for one test's case). */
export async function loadOrganismV2(opts: OrganismV2Options & { style?: ExportStyle; base?: (o: OrganismV2) => DecoderWeights } = {}): Promise<LoadedOrganism> {
  const organism = buildOrganismV2(opts);
  if (opts.base) organism.base = opts.base(organism);
  const root = tempDir('organism-v2');
  const dirs = { root, aligned: path.join(root, 'aligned'), base: path.join(root, 'base') };
  for (const variant of ['aligned', 'base'] as const) writeOrganism(dirs[variant], { variant, style: opts.style ?? 'torch' }, organism);
  const load = (dir: string) => Engine.load({ model: dir, dtype: 'fp32', cacheDir: path.join(root, 'cache'), allowRemote: false });
  const aligned = await load(dirs.aligned);
  const base = await load(dirs.base);
  return {
    organism,
    gt: organism.groundTruth('aligned'),
    aligned,
    base,
    dirs,
    dispose: async () => {
      await aligned.dispose();
      await base.dispose();
    },
  };
}

export const cos = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
};
