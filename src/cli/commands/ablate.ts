import { CONDITIONS, evaluateDirection } from '../../engine/directions/evaluate';
import { Engine } from '../../engine/engine';
import { Judge } from '../../engine/directions/judge';
import { MODEL_HELP, MODEL_OPTIONS, loadParams, parse, positiveInt, stderrProgress, UsageError, promptLoader, PROMPTS_HELP } from '../args';
import { directionFile } from './direction';

export const summary = 'completions with the direction ablated and added, beside the baseline, with refusal verdicts and KL';

export const help = `refusal-lens ablate --model <dir> --directions <file> (--prompt <text> | --prompts <file>) [--json]

Greedy completions under three conditions: baseline, directional ablation (every layer and
position) and activation addition (the raw direction at its layer, times --coefficient). Each is
judged refused (substring matching), degenerate (empty, no letters, one word or a short n-gram
looping) or answered; KL of the first-token distribution against baseline, and the cross-entropy
of the baseline completions under each condition (token-pooled, EOS excluded), measure the damage.
A prompt file with a category column (csv, json, jsonl: category, SemanticCategory) gets rates
per category too.

  --coefficient <c>      activation addition coefficient (default 1; the paper uses -1 on harmful prompts)
  --max-new-tokens <n>   default 64 (the paper generates 512)
  --refusal-substrings <a|b|...>  what counts as a refusal (default: the paper's list, case-insensitive)
  --judge <dir|owner/name>  a judge chat model (e.g. Llama Guard) beside the substrings: it reads the
                         request and each answer and decides from its first token; where it and the
                         substring verdict disagree the result says so
  --judge-template <t>   the judge prompt, with {prompt} and {response} (default: Llama-Guard style)
  --judge-words <unsafe,safe>  the words whose first tokens decide (default unsafe,safe; HarmBench: yes,no)
${PROMPTS_HELP}
${MODEL_HELP}`;

const OPTIONS = {
  ...MODEL_OPTIONS,
  directions: { type: 'string' },
  prompt: { type: 'string' },
  prompts: { type: 'string' },
  coefficient: { type: 'string', default: '1' },
  'max-new-tokens': { type: 'string' },
  'refusal-substrings': { type: 'string' },
  judge: { type: 'string' },
  'judge-template': { type: 'string' },
  'judge-words': { type: 'string' },
} as const;

export async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, OPTIONS);
  const read = promptLoader(values);
  if (!values.directions) throw new UsageError('--directions is required');
  if ((values.prompt === undefined) === (values.prompts === undefined)) throw new UsageError('give exactly one of --prompt or --prompts');
  const coefficient = Number(values.coefficient);
  if (!Number.isFinite(coefficient)) throw new UsageError(`--coefficient must be a number, got '${values.coefficient}'`);
  const { prompts, categories } = values.prompt !== undefined ? { prompts: [values.prompt], categories: undefined } : await read(values.prompts!);
  const progress = values.json ? undefined : stderrProgress;
  const direction = await directionFile(values.directions);
  const words = values['judge-words']?.split(',').map((w) => w.trim());
  if (words && (words.length !== 2 || !words.every(Boolean))) throw new UsageError(`--judge-words takes two words, unsafe first: e.g. unsafe,safe or yes,no; got '${values['judge-words']}'`);
  const engine = await Engine.load(loadParams(values), { progress });
  const judgeModel = values.judge ? await Engine.load({ ...loadParams(values), model: values.judge }, { progress }) : undefined;
  try {
    const judge = judgeModel && new Judge(judgeModel, { template: values['judge-template'], words: words as [string, string] | undefined });
    const d = direction(engine);
    const substrings = values['refusal-substrings']?.split('|').filter(Boolean);
    const r = await evaluateDirection(engine, prompts, { direction: d, coefficient, maxNewTokens: positiveInt(values['max-new-tokens'], '--max-new-tokens'), substrings, categories, judge, progress });
    if (values.json) {
      console.log(JSON.stringify(r));
      return 0;
    }
    for (const p of r.results) {
      console.log(`\n> ${p.prompt}`);
      for (const c of CONDITIONS) {
        const comp = p.completions[c];
        const judged = comp?.judge ? `judge ${comp.judge.unsafe ? 'unsafe' : 'safe  '}${comp.judge.disagrees ? ' (disagrees)' : '            '}  ` : '';
        if (comp) console.log(`  ${c.padEnd(9)} ${comp.verdict.padEnd(10)}  ${judged}${JSON.stringify(comp.text)}`);
      }
    }
    const pct = (x?: number) => (x === undefined || Number.isNaN(x) ? '-' : `${(100 * x).toFixed(1)}%`);
    console.log(`\nrefusal rate: ${CONDITIONS.map((c) => `${c} ${pct(r.refusal_rate[c])}`).join(', ')}`);
    console.log(`degenerate (empty, no letters, a loop): ${CONDITIONS.map((c) => `${c} ${pct(r.degenerate_rate[c])}`).join(', ')}`);
    if (r.judge_unsafe_rate) {
      console.log(`judged unsafe by ${values.judge}: ${CONDITIONS.map((c) => `${c} ${pct(r.judge_unsafe_rate![c])}`).join(', ')}; disagrees with the substrings: ${CONDITIONS.map((c) => `${c} ${pct(r.disagreement_rate![c])}`).join(', ')}`);
    }
    for (const [name, k] of Object.entries(r.by_category ?? {})) {
      console.log(`  ${name} (${k.prompts}): refused ${CONDITIONS.map((c) => `${c} ${pct(k.refusal_rate[c])}`).join(', ')}; degenerate ${CONDITIONS.map((c) => `${c} ${pct(k.degenerate_rate[c])}`).join(', ')}`);
    }
    console.log(`KL vs baseline: ablation ${r.kl.ablation?.toFixed(4)}, addition ${r.kl.addition?.toFixed(4)}; CE of baseline completions: ${CONDITIONS.map((c) => `${c} ${r.ce[c]?.toFixed(3)}`).join(', ')}`);
    return 0;
  } finally {
    await engine.dispose();
    await judgeModel?.dispose();
  }
}
