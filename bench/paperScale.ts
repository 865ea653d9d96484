// Rows `paper-scale extract`: what `refusal-lens extract` costs from loading the model to writing the
// direction file with paper A's set sizes (128 + 128 training, 32 + 32 validation prompts), on a
// planted organism whose refusal is real (a random-weight model filters every candidate, which
// measures nothing), fast selection against --exhaustive in the same run.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { extractRefusalDirection, type ExtractResult } from '../src/engine/directions/extract';
import { extractionDoc, modelOf, writeDirections } from '../src/engine/directions/file';
import { promptSet, splitTrainVal } from '../src/engine/directions/prompts';
import { Engine } from '../src/engine/engine';
import type { Row } from './measure';

export interface PaperScaleCase {
  /** e.g. "0.5B-shape q4 organism". */
  label: string;
  dir: string;
  cacheDir: string;
  harmful: string[];
  harmless: string[];
  /** Training prompts per set; a quarter as many more validate (splitTrainVal). */
  train: number;
  /** Target for the fast run, in minutes. */
  targetMinutes: number;
  /** Also run --exhaustive for the ratio and the same-candidate check. */
  exhaustive: boolean;
  outDir: string;
  log: (m: string) => void;
}

/** Load, extract and write the direction file, as `refusal-lens extract` does; minutes and the result. */
async function loadToFile(c: PaperScaleCase, exhaustive: boolean): Promise<{ minutes: number; result: ExtractResult }> {
  const n = c.train + c.train / 4;
  const sets = [promptSet('harmful', take(c.harmful, n)), promptSet('harmless', take(c.harmless, n))];
  mkdirSync(c.outDir, { recursive: true });
  const started = Date.now();
  const engine = await Engine.load({ model: c.dir, dtype: 'q4', cacheDir: c.cacheDir, allowRemote: false });
  try {
    let last = '';
    const result = await extractRefusalDirection(engine, {
      harmful: splitTrainVal(sets[0]),
      harmless: splitTrainVal(sets[1]),
      exhaustive,
      progress: (m) => {
        const stage = m.replace(/ \d+ of \d+.*/, '');
        if (stage !== last) c.log(`    ${exhaustive ? 'exhaustive' : 'fast'}: ${(last = stage)} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
      },
    });
    if (result.selected) await writeDirections(path.join(c.outDir, `${exhaustive ? 'exhaustive' : 'fast'}.json`), extractionDoc(modelOf(engine.info), result, sets));
    return { minutes: (Date.now() - started) / 60_000, result };
  } finally {
    await engine.dispose();
  }
}

/** The first `n` prompts, cycling when a set has fewer (an organism's sets are generated from templates). */
const take = (xs: string[], n: number) => Array.from({ length: n }, (_, i) => xs[i % xs.length]);

const where = (r: ExtractResult) => (r.selected ? `layer ${r.selected.layer}, position ${r.selected.position}` : 'none selected');

export async function paperScaleExtract(c: PaperScaleCase): Promise<Row[]> {
  const sizes = `${c.train}+${c.train} train, ${c.train / 4}+${c.train / 4} val`;
  const fast = await loadToFile(c, false);
  const scored = fast.result.candidates.filter((x) => !x.skipped && Number.isFinite(x.bypass)).length;
  const rows: Row[] = [
    {
      name: `paper-scale extract, ${c.label} (${sizes}): load to direction file, fast selection`,
      value: fast.minutes,
      unit: 'min',
      ratio: fast.minutes / c.targetMinutes,
      target: `<= ${c.targetMinutes} min`,
      met: fast.minutes <= c.targetMinutes,
      note: `${where(fast.result)}; ${fast.result.candidates.length} candidates, ${scored} fully scored; ratio = minutes / target`,
    },
  ];
  if (!c.exhaustive) return rows;
  const full = await loadToFile(c, true);
  const same = !!fast.result.selected && !!full.result.selected && fast.result.selected.layer === full.result.selected.layer && fast.result.selected.position === full.result.selected.position;
  rows.push(
    {
      name: `paper-scale extract, ${c.label}: fast vs --exhaustive (same run)`,
      value: full.minutes,
      unit: 'min',
      ratio: fast.minutes / full.minutes,
      target: '<= 0.2',
      met: fast.minutes / full.minutes <= 0.2,
      note: `value: the exhaustive run; fast ${fast.minutes.toFixed(1)} min`,
    },
    {
      name: `paper-scale extract, ${c.label}: fast and --exhaustive select the same candidate`,
      value: same ? 1 : 0,
      unit: 'same',
      ratio: null,
      target: 'same',
      met: same,
      note: `fast: ${where(fast.result)}; exhaustive: ${where(full.result)}`,
    },
  );
  return rows;
}
