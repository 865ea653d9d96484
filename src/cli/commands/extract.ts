import path from 'node:path';
import { DEFAULT_HARMFUL, DEFAULT_HARMLESS } from '../../engine/directions/defaultPrompts';
import { extractRefusalDirection } from '../../engine/directions/extract';
import { extractionDoc, modelOf, writeDirections } from '../../engine/directions/file';
import { promptSet, splitTrainVal } from '../../engine/directions/prompts';
import { Engine } from '../../engine/engine';
import { MODEL_HELP, MODEL_OPTIONS, loadParams, parse, stderrProgress, UsageError, promptLoader, PROMPTS_HELP } from '../args';

export const summary = 'extract the refusal direction (difference in means, Arditi et al.) and select the best candidate';

export const help = `refusal-lens extract --model <dir> [--harmful f] [--harmless f] --out <directions.json> [--json]

Difference in means of resid_pre between harmful and harmless prompts at every layer and every
post-instruction position; each candidate is scored by ablation (bypass), addition at its layer
(induce) and KL on harmless prompts, filtered as in the paper (layer < 0.8 L, KL <= 0.1,
induce >= 0), and the lowest bypass score wins. The last quarter of each set validates.
By default only what selection needs is scored (bypass below 0.8 L, then KL and induce in bypass
order until one passes): the same candidate as scoring all, with '-' for the scores skipped.

  --harmful <file>     harmful instructions (json, jsonl, csv or text, one per line); default: built-in set
  --harmless <file>    harmless instructions; default: built-in set
  --out <file>         direction file to write (a .f32 data file is written beside it)
  --no-filter          keep every prompt (default: keep harmful prompts the model refuses, harmless it answers)
  --kl-threshold <x>   default 0.1
  --exhaustive         score every candidate, as the paper does (the full table; about 3x slower)
  --refusal-tokens <a,b,...>  answer openings whose first tokens (as the assistant's answer in the chat
                       template, and encoded alone) are the refusal tokens (default "I cannot,As an")
${PROMPTS_HELP}
${MODEL_HELP}`;

const OPTIONS = {
  ...MODEL_OPTIONS,
  harmful: { type: 'string' },
  harmless: { type: 'string' },
  out: { type: 'string' },
  'no-filter': { type: 'boolean', default: false },
  'kl-threshold': { type: 'string' },
  exhaustive: { type: 'boolean', default: false },
  'refusal-tokens': { type: 'string' },
} as const;

export async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, OPTIONS);
  const read = promptLoader(values);
  if (!values.out) throw new UsageError('--out is required');
  const kl = values['kl-threshold'] === undefined ? undefined : Number(values['kl-threshold']);
  if (kl !== undefined && !(kl > 0)) throw new UsageError(`--kl-threshold must be a positive number, got '${values['kl-threshold']}'`);
  const harmful = values.harmful ? await read(values.harmful) : promptSet('default harmful', DEFAULT_HARMFUL);
  const harmless = values.harmless ? await read(values.harmless) : promptSet('default harmless', DEFAULT_HARMLESS);
  // Split before the model loads: a set too small to split fails at once.
  const split = { harmful: splitTrainVal(harmful), harmless: splitTrainVal(harmless) };
  const progress = values.json ? undefined : stderrProgress;
  const engine = await Engine.load(loadParams(values), { progress });
  try {
    const r = await extractRefusalDirection(engine, {
      ...split,
      filterPrompts: !values['no-filter'],
      klThreshold: kl,
      exhaustive: values.exhaustive,
      refusalTokens: values['refusal-tokens'] ? engine.tokenizer.refusalTokenIds(values['refusal-tokens'].split(',').map((t) => t.trim()).filter(Boolean)) : undefined,
      progress,
    });
    if (r.selected) {
      await writeDirections(path.resolve(values.out), extractionDoc(modelOf(engine.info), r, [harmful, harmless]));
    }
    const candidates = r.candidates.map((c) => ({ layer: c.layer, position: c.position, bypass_score: c.bypass, induce_score: c.induce, kl: c.kl, norm: c.norm, filtered: c.filtered ?? null, skipped: c.skipped ?? null }));
    if (values.json) {
      const s = r.selected;
      console.log(JSON.stringify({ layer: s?.layer ?? null, position: s?.position ?? null, bypass_score: s?.bypass ?? null, induce_score: s?.induce ?? null, kl: s?.kl ?? null, candidates, counts: r.counts, report: r.report ?? null }));
    } else {
      console.log('layer  pos   bypass   induce       KL     norm  filtered');
      for (const c of r.candidates) {
        const f = (x: number, w: number, d: number) => (Number.isFinite(x) ? x.toFixed(d) : c.skipped ? '-' : 'nan').padStart(w);
        console.log(`${String(c.layer).padStart(5)} ${String(c.position).padStart(4)} ${f(c.bypass, 8, 2)} ${f(c.induce, 8, 2)} ${f(c.kl, 8, 4)} ${f(c.norm, 8, 2)}  ${c.filtered ?? (c === r.selected ? '<- selected' : (c.skipped ?? ''))}`);
      }
      console.log(r.selected ? `\nwrote ${path.resolve(values.out)} (layer ${r.selected.layer}, position ${r.selected.position})` : `\n${r.report}`);
    }
    return r.selected ? 0 : 1;
  } finally {
    await engine.dispose();
  }
}
