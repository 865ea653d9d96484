import { readFile } from 'node:fs/promises';
import { intervene } from '../../engine/directions/intervene';
import type { SpaceLayer } from '../../engine/directions/space';
import { Engine } from '../../engine/engine';
import { EngineError } from '../../engine/model/errors';
import { MODEL_HELP, MODEL_OPTIONS, loadParams, parse, positiveInt, stderrProgress, UsageError, promptLoader, PROMPTS_HELP } from '../args';

export const summary = 'intervene on safety-residual-space components (Pan et al.): refusal rates, perplexity cost, trigger removal';

export const help = `refusal-lens intervene --model <dir> --space <space.json> --component <k[,k...]> --prompts <file> [--json]

Pan et al.'s causal intervention on components of the safety residual space (from
'refusal-lens space'), at the last token and every generated token: without --alpha the components
are removed (h − (h·ĉ)ĉ at every write into the residual stream, so no layer's output keeps them);
with --alpha, α·ĉ is subtracted from the output of every layer (or --layers). Reports the refusal
and degenerate rates without and with the intervention, and the perplexity of the baseline's own
completions under it (the cost). --remove-triggers n also runs the trigger-removal attack: each
prompt without its n strongest trigger tokens for component 0 of --layer (occlusion), rerun unsteered.

  --component <k[,k...]>  component indices in the space file (or L<l>C<k>, e.g. L2C1)
  --layer <l>             the space layer the components come from (default: where component k
                          predicts refusal best)
  --alpha <a>             subtract a·ĉ instead of removing
  --layers <j,j,...>      layers whose output is steered with --alpha (default: all)
  --remove-triggers <n>   also report the refusal rate with each prompt's top-n trigger tokens removed
  --max-new-tokens <n>    default 64
${PROMPTS_HELP}
${MODEL_HELP}`;

const OPTIONS = {
  ...MODEL_OPTIONS,
  space: { type: 'string' },
  component: { type: 'string' },
  layer: { type: 'string' },
  alpha: { type: 'string' },
  layers: { type: 'string' },
  prompts: { type: 'string' },
  'remove-triggers': { type: 'string' },
  'max-new-tokens': { type: 'string' },
} as const;

const ints = (value: string, flag: string) =>
  value.split(',').map((x) => {
    const n = Number(x.trim());
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`${flag} takes non-negative integers separated by commas, got '${value}'`);
    return n;
  });

async function readSpace(file: string): Promise<SpaceLayer[]> {
  let doc: { format?: string; layers?: SpaceLayer[] };
  try {
    doc = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new EngineError('BAD_REQUEST', `cannot read the space file ${file}: ${(e as Error).message}`);
  }
  if (doc?.format !== 'refusal-lens/safety-space' || !Array.isArray(doc.layers)) throw new EngineError('BAD_REQUEST', `${file} is not a space file written by 'refusal-lens space'`);
  return doc.layers;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, OPTIONS);
  const read = promptLoader(values);
  for (const flag of ['space', 'component', 'prompts'] as const) if (!values[flag]) throw new UsageError(`--${flag} is required`);
  const named = /^L(\d+)C(\d+)$/i.exec(values.component!);
  const ks = named ? [Number(named[2])] : ints(values.component!, '--component');
  const alpha = values.alpha === undefined ? undefined : Number(values.alpha);
  if (alpha !== undefined && !Number.isFinite(alpha)) throw new UsageError(`--alpha must be a number, got '${values.alpha}'`);
  const layers = await readSpace(values.space!);
  const wanted = named ? Number(named[1]) : values.layer === undefined ? undefined : ints(values.layer, '--layer')[0];
  const at = wanted === undefined ? layers.reduce((best, l) => ((l.accuracy[ks[0]] ?? -1) > (best.accuracy[ks[0]] ?? -1) ? l : best)) : layers.find((l) => l.layer === wanted);
  if (!at) throw new UsageError(`the space file has no layer ${wanted} (it has ${layers.map((l) => l.layer).join(', ')})`);
  const missing = ks.find((k) => !at.components[k]);
  if (missing !== undefined) throw new UsageError(`layer ${at.layer} of the space file has components 0..${at.components.length - 1}, not ${missing}`);
  const { prompts, categories } = await read(values.prompts!);
  const top = positiveInt(values['remove-triggers'], '--remove-triggers');
  const progress = values.json ? undefined : stderrProgress;
  const engine = await Engine.load(loadParams(values), { progress });
  try {
    const r = await intervene(engine, prompts, {
      components: ks.map((k) => at.components[k]),
      alpha,
      layers: values.layers === undefined ? undefined : ints(values.layers, '--layers'),
      maxNewTokens: positiveInt(values['max-new-tokens'], '--max-new-tokens'),
      categories,
      triggers: top ? { vector: at.components[0], layer: at.layer, top } : undefined,
      progress,
    });
    const doc = { component: { layer: at.layer, indices: ks, accuracy: ks.map((k) => at.accuracy[k]) }, ...r };
    if (values.json) {
      console.log(JSON.stringify(doc));
      return 0;
    }
    const pct = (x?: number) => (x === undefined ? '-' : `${(100 * x).toFixed(1)}%`);
    console.log(`${r.mode} L${at.layer} C${ks.join(',')}${alpha === undefined ? '' : ` (alpha ${alpha})`} at the last token, ${prompts.length} prompts`);
    console.log(`refusal rate: baseline ${pct(r.refusal_rate.baseline)}, intervened ${pct(r.refusal_rate.intervened)}${top ? `, top-${top} triggers removed ${pct(r.refusal_rate.trigger_removed)}` : ''}`);
    console.log(`degenerate:   baseline ${pct(r.degenerate_rate.baseline)}, intervened ${pct(r.degenerate_rate.intervened)}`);
    for (const [name, k] of Object.entries(r.by_category ?? {})) console.log(`  ${name} (${k.prompts}): ${pct(k.refusal_rate.baseline)} → ${pct(k.refusal_rate.intervened)}`);
    console.log(`perplexity of the baseline's completions: ${r.perplexity.baseline.toFixed(3)} → ${r.perplexity.intervened.toFixed(3)}`);
    return 0;
  } finally {
    await engine.dispose();
  }
}
