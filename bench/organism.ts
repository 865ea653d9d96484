// The benchmark's organisms: the planted organism v2 (src/modelgen/organism2.ts) at the exact shapes
// of Qwen2.5-0.5B and 1.5B with the bench tokenizer's vocabulary size, written once as q4 (the
// dtype users run on a laptop) and kept outside the repository. Its refusal is real: candidates pass
// and fail the paper's filters as on a real model, which a random-weight model never does.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildOrganismV2 } from '../src/modelgen/organism2';
import { makeWordTokenizer } from '../src/modelgen/tokenizer';
import { writeModel } from '../src/modelgen/write';
import { benchCacheDir, QWEN25_05B } from './models';

export const SHAPES = {
  '0.5B': { layers: 24, hidden: 896, heads: 14, kvHeads: 2, intermediate: 4864 },
  '1.5B': { layers: 28, hidden: 1536, heads: 12, kvHeads: 2, intermediate: 8960 },
} as const;
export type Shape = keyof typeof SHAPES;

/** Bumped when the organism or how it is written changes, so stale caches are rebuilt. */
const ORGANISM_VERSION = 1;

export interface BenchOrganism {
  dir: string;
  harmful: string[];
  harmless: string[];
}

export function ensureOrganism(shape: Shape, log: (m: string) => void): BenchOrganism {
  const dir = path.join(benchCacheDir(), `organism-v2-qwen2.5-${shape.toLowerCase()}-shape-q4-v${ORGANISM_VERSION}`);
  const promptsFile = path.join(dir, 'prompts.json');
  if (!existsSync(path.join(dir, 'complete'))) {
    const tmp = `${dir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    log(`building the benchmark organism once (organism v2 at Qwen2.5-${shape} shape, q4) in ${dir} ...`);
    const started = Date.now();
    const o = buildOrganismV2({ seed: 1, ...SHAPES[shape], vocabSize: QWEN25_05B.vocabSize, log: (m) => log(`  ${m}`) });
    const id = (w: string) => o.vocab.indexOf(w);
    writeModel(tmp, { config: o.config, weights: o.aligned, tokenizer: makeWordTokenizer(o.vocab), style: 'torch', dtype: 'q4', eosId: id('<|im_end|>'), padId: id('<|endoftext|>') });
    writeFileSync(path.join(tmp, 'prompts.json'), JSON.stringify({ harmful: o.prompts.harmful_train, harmless: o.prompts.harmless_train }));
    writeFileSync(path.join(tmp, 'complete'), `${ORGANISM_VERSION}\n`);
    mkdirSync(path.dirname(dir), { recursive: true });
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
    log(`  built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
  const { harmful, harmless } = JSON.parse(readFileSync(promptsFile, 'utf8'));
  return { dir, harmful, harmless };
}
