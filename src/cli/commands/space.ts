import path from 'node:path';
import { DEFAULT_HARMFUL, DEFAULT_HARMLESS } from '../../engine/directions/defaultPrompts';
import { writeFilesAtomic } from '../../engine/atomicWrite';
import { safetySpace } from '../../engine/directions/space';
import { SpaceLabelSource } from '../../protocol';
import { Engine } from '../../engine/engine';
import { MODEL_HELP, MODEL_OPTIONS, loadParams, parse, positiveInt, stderrProgress, UsageError, promptLoader, PROMPTS_HELP } from '../args';

export const summary = 'the safety residual space (Pan et al.): components, spectrum, effective rank, interactions';

export const help = `refusal-lens space --model <aligned> [--base <dir>] [--prompts f] [--harmless f] --out <space.json> [--json]

Two-model mode (with --base, the paper's method): per layer, the least-squares map from the base
model's last-token activations to the aligned model's, the shift S = XW − X, its uncentered SVD.
One-model mode (without --base, this project's variant): the same decomposition of each prompt's
activation minus the mean over harmless prompts. Reports, per layer, the spectrum, the effective
rank at tau 0.4..0.9, the components (oriented to correlate positively with refusal) with their
refusal-prediction accuracy, the best of them and a held-out logistic-probe baseline, and component
interactions between consecutive layers (a causal proxy for the paper's LRP relevance: > 0
promotes, < 0 suppresses).

  --prompts <file>           prompts to analyse (default: the built-in harmful and harmless sets)
  --harmless <file>          one-model mode's reference prompts (default: built-in harmless set)
  --interaction-prompts <f>  prompts to measure interactions on (e.g. jailbreaks; default: spread over --prompts)
  --components <k>           components per layer (default 6)
  --labels <source>          refusal labels for component accuracy and the probe: aligned-score (the
                             aligned model's refusal score > 0, default) or base-first-token (the base
                             model's greedy first token is a refusal token, as Pan et al. label; needs --base)
${PROMPTS_HELP}
${MODEL_HELP}`;

const OPTIONS = {
  ...MODEL_OPTIONS,
  base: { type: 'string' },
  prompts: { type: 'string' },
  harmless: { type: 'string' },
  'interaction-prompts': { type: 'string' },
  components: { type: 'string' },
  labels: { type: 'string' },
  out: { type: 'string' },
} as const;

export async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, OPTIONS);
  const read = promptLoader(values);
  if (!values.out) throw new UsageError('--out is required');
  const labels = SpaceLabelSource.safeParse(values.labels ?? 'aligned-score');
  if (!labels.success) throw new UsageError(`--labels must be one of ${SpaceLabelSource.options.join(', ')}, got '${values.labels}'`);
  if (labels.data === 'base-first-token' && !values.base) throw new UsageError("--labels base-first-token labels with the base model's first token: it needs --base");
  const prompts = values.prompts ? (await read(values.prompts)).prompts : [...DEFAULT_HARMFUL, ...DEFAULT_HARMLESS];
  const harmless = values.harmless ? (await read(values.harmless)).prompts : DEFAULT_HARMLESS;
  const interactionOn = values['interaction-prompts'] ? (await read(values['interaction-prompts'])).prompts : undefined;
  const progress = values.json ? undefined : stderrProgress;
  const params = loadParams(values);
  const aligned = await Engine.load(params, { progress });
  const base = values.base ? await Engine.load({ ...params, model: values.base }, { progress }) : undefined;
  try {
    const r = await safetySpace(aligned, base, { prompts, harmless, interactionOn, components: positiveInt(values.components, '--components'), labels: labels.data, progress });
    const doc = { format: 'refusal-lens/safety-space', version: 1, model: aligned.info.model, base: base?.info.model ?? null, ...r };
    await writeFilesAtomic([{ file: path.resolve(values.out), data: JSON.stringify(doc) }]);
    if (values.json) {
      console.log(JSON.stringify({ mode: r.mode, prompts: r.prompts, labels: r.labels, refused_fraction: r.refusedFraction, layers: r.layers.map((l) => ({ layer: l.layer, effective_rank: l.effectiveRank, eigenvalues: l.eigenvalues.slice(0, 8), accuracy: l.accuracy, best: l.best, probe: l.probe })), out: path.resolve(values.out) }));
    } else {
      console.log(`${r.mode}, ${r.prompts} prompts (${(100 * r.refusedFraction).toFixed(0)}% refused; labels: ${r.labels.rule})${r.labels.note ? `\nnote: ${r.labels.note}` : ''}\nlayer  eff.rank@0.4/0.9  λ1      λ2      acc(C0)  best      probe`);
      for (const l of r.layers) {
        console.log(`${String(l.layer).padStart(5)}  ${String(l.effectiveRank['0.4']).padStart(7)}/${String(l.effectiveRank['0.9']).padEnd(8)} ${(l.eigenvalues[0] ?? 0).toFixed(3).padStart(7)} ${(l.eigenvalues[1] ?? 0).toFixed(3).padStart(7)}  ${l.accuracy[0]?.toFixed(2) ?? '-'}     ${l.best.component < 0 ? '-' : `C${l.best.component} ${l.best.accuracy.toFixed(2)}`}  ${Number.isNaN(l.probe) ? '-' : l.probe.toFixed(2)}`);
      }
      console.log(`\nwrote ${path.resolve(values.out)}`);
    }
    return 0;
  } finally {
    await aligned.dispose();
    await base?.dispose();
  }
}
