import { readFile } from 'node:fs/promises';
import { BUILTIN_MC, BUILTIN_TEXT } from '../../engine/directions/capabilitySet';
import { capability, capabilityWithAblation, paragraphs, parseMc, PERPLEXITY_WINDOW, type CapabilityResult } from '../../engine/directions/capability';
import { Engine } from '../../engine/engine';
import { describeFsError, EngineError } from '../../engine/model/errors';
import { MODEL_HELP, MODEL_OPTIONS, loadParams, parse, stderrProgress } from '../args';
import { directionFile } from './direction';

export const summary = 'capability checks: multiple-choice accuracy and perplexity for baseline, ablation and an exported model';

export const help = `refusal-lens capability --model <dir> [--directions <file>] [--exported <dir>] [--mc <file.jsonl>] [--text <file>] [--json]

Does the model stay capable with the direction ablated (and once exported)? Multiple-choice accuracy
by the log-likelihood of each choice after the question (lm-evaluation-harness "acc", raw text, no
chat template) and perplexity on plain text (token-pooled over ${PERPLEXITY_WINDOW}-token windows), for the
baseline, the selected direction ablated at every layer and position (--directions) and an
exported abliterated model (--exported). Without --mc / --text, a small built-in set written for
this project is used.

  --directions <file>   also measure with the selected direction ablated
  --exported <dir>      also measure an exported model folder (refusal-lens export)
  --mc <file.jsonl>     one {"question", "choices": [...], "answer": index or letter} per line
  --text <file>         plain text; paragraphs (blank-line separated) are scored separately
${MODEL_HELP}`;

const OPTIONS = { ...MODEL_OPTIONS, directions: { type: 'string' }, exported: { type: 'string' }, mc: { type: 'string' }, text: { type: 'string' } } as const;

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new EngineError('NOT_FOUND', `cannot read ${file}: ${describeFsError(e)}`);
  }
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, OPTIONS);
  const mc = values.mc ? parseMc(await readText(values.mc), values.mc) : BUILTIN_MC;
  const text = values.text ? paragraphs(await readText(values.text)) : BUILTIN_TEXT;
  const direction = values.directions ? await directionFile(values.directions) : undefined;
  const progress = values.json ? undefined : stderrProgress;
  const params = loadParams(values);
  let results: Record<string, CapabilityResult>;
  const engine = await Engine.load(params, { progress });
  try {
    const d = direction?.(engine);
    results = await capabilityWithAblation(engine, d, { mc, text, progress });
  } finally {
    await engine.dispose();
  }
  if (values.exported) {
    const exported = await Engine.load({ ...params, model: values.exported }, { progress });
    try {
      results.exported = await capability(exported, { mc, text, progress });
    } finally {
      await exported.dispose();
    }
  }
  const per = <T>(f: (r: CapabilityResult) => T) => Object.fromEntries(Object.entries(results).map(([k, r]) => [k, f(r)]));
  const doc = {
    accuracy: per((r) => r.accuracy),
    perplexity: per((r) => r.perplexity),
    items: mc.length,
    tokens: results.baseline.tokens,
    mc: values.mc ?? 'built-in',
    text: values.text ?? 'built-in',
    picks: per((r) => r.picks),
  };
  if (values.json) console.log(JSON.stringify(doc));
  else {
    console.log(`${mc.length} multiple-choice items (${doc.mc}), ${doc.tokens} text tokens (${doc.text})`);
    for (const [k, r] of Object.entries(results)) console.log(`  ${k.padEnd(9)} accuracy ${(100 * r.accuracy).toFixed(1)}%  perplexity ${r.perplexity.toFixed(3)}`);
  }
  return 0;
}
