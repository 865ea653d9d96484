// Pan et al.'s interventions on safety-residual-space components, at the last token (and every
// generated token, as their hooks act on each new position):
//   remove    h ← h − (h·ĉ)ĉ for the components' span, at every writer into the residual stream, so no
//             layer's output keeps a part along them (their use_proj mode with α = 1);
//   subtract  h ← h − α·ĉ at the output of every listed layer (their default mode).
// Refusal rates with and without, the perplexity cost on the baseline's own completions (scored at
// the positions the intervention touches in generation), and the trigger-removal attack: the top-n
// occlusion trigger tokens of each prompt for the dominant component removed, the prompt rerun.
import type { SteeringParsed, Verdict } from '../../protocol';
import { throwIfCancelled } from '../cancel';
import { EngineError } from '../model/errors';
import { generate } from '../runtime/generate';
import { steeringTensors, type SteeringTensors } from '../runtime/steering';
import { checkCategories, crossEntropy, withoutEos } from './evaluate';
import type { LoadedModel } from './extract';
import { occlusionTriggers, unit } from './score';
import { verdict } from './verdict';

export interface InterveneOptions {
  /** Unit components (e.g. c_{l,k} from `refusal-lens space`). */
  components: number[][];
  /** Absent: remove. Present: subtract α·ĉ at each listed layer's output. */
  alpha?: number;
  /** Layers whose output is steered in subtract mode (default: every layer). */
  layers?: number[];
  maxNewTokens?: number;
  substrings?: string[];
  /** One per prompt (a prompt file's category column): refusal rates per category come back too. */
  categories?: string[];
  /** Trigger removal: the dominant component and its layer, and how many top tokens to drop. */
  triggers?: { vector: number[]; layer: number; top: number };
  signal?: AbortSignal;
  progress?: (message: string, fraction?: number) => void;
}

interface Run {
  text: string;
  verdict: Verdict;
}

export interface InterveneResult {
  mode: 'remove' | 'subtract';
  alpha: number | null;
  layers: number[];
  results: { prompt: string; category?: string; baseline: Run; intervened: Run; trigger_removed?: Run & { removed: string[] } }[];
  refusal_rate: Rates;
  degenerate_rate: Rates;
  /** exp of the token-pooled cross-entropy of the baseline's completions (EOS excluded). */
  perplexity: { baseline: number; intervened: number };
  by_category?: Record<string, { prompts: number; refusal_rate: Rates }>;
}

type Rates = { baseline: number; intervened: number; trigger_removed?: number };

export function interventionSteering(components: number[][], hidden: number, L: number, alpha?: number, layers?: number[]): SteeringParsed {
  for (const [i, c] of components.entries()) {
    if (c.length !== hidden) throw new EngineError('BAD_REQUEST', `component ${i} has ${c.length} values; the model's hidden size is ${hidden}`);
  }
  if (alpha === undefined) return { ablate: components, positions: 'last' };
  // Layer j's output is the residual entering layer j + 1 (for the last layer, the final norm's input).
  const outputs = (layers ?? Array.from({ length: L }, (_, j) => j)).map((j) => {
    if (!Number.isInteger(j) || j < 0 || j >= L) throw new EngineError('BAD_REQUEST', `layer ${j} does not exist (the model has layers 0..${L - 1})`);
    return j + 1;
  });
  return { add: components.map((c) => ({ vector: unit(c), layers: outputs, coefficient: -alpha })), positions: 'last' };
}

export async function intervene(model: LoadedModel, prompts: string[], opts: InterveneOptions): Promise<InterveneResult> {
  const { layers: L, hiddenSize } = model.info;
  checkCategories(opts.categories, prompts.length);
  const steering = steeringTensors(interventionSteering(opts.components, hiddenSize, L, opts.alpha, opts.layers), L, hiddenSize);
  if (opts.triggers && (opts.triggers.layer >= L || opts.triggers.vector.length !== hiddenSize)) {
    throw new EngineError('BAD_REQUEST', `trigger removal needs a component at a layer below ${L} with ${hiddenSize} values`);
  }
  const run = async (ids: number[], steer?: SteeringTensors) => {
    const gen = await generate(model.decoder, ids, { maxNewTokens: opts.maxNewTokens ?? 64, eosIds: model.tokenizer.eosIds, steering: steer, hooks: [], useCache: true, signal: opts.signal });
    throwIfCancelled(opts.signal);
    const text = model.tokenizer.decode(gen.ids, true);
    return { ids: gen.ids, run: { text, verdict: verdict(text, opts.substrings) } };
  };
  const results: InterveneResult['results'] = [];
  const nll = { baseline: 0, intervened: 0 };
  let tokens = 0;
  for (const [i, prompt] of prompts.entries()) {
    throwIfCancelled(opts.signal);
    opts.progress?.(`Prompt ${i + 1} of ${prompts.length}`, i / prompts.length);
    const ids = model.tokenizer.encode(prompt, { chat: true }).ids;
    const { ids: out, run: baseline } = await run(ids);
    const { run: intervened } = await run(ids, steering);
    const scored = withoutEos(out, model.tokenizer.eosIds);
    if (scored.length) {
      nll.baseline += scored.length * (await crossEntropy(model, ids, scored, undefined, opts.signal));
      nll.intervened += scored.length * (await crossEntropy(model, ids, scored, steering, opts.signal));
      tokens += scored.length;
    }
    const row: InterveneResult['results'][number] = { prompt, ...(opts.categories ? { category: opts.categories[i] } : {}), baseline, intervened };
    if (opts.triggers) {
      const ranked = await occlusionTriggers(model, ids, unit(opts.triggers.vector), opts.triggers.layer, opts.signal);
      // A long prompt's triggers may be spans: all of a span's tokens go.
      const drop = new Set(ranked.slice(0, opts.triggers.top).flatMap((t) => Array.from({ length: t.length ?? 1 }, (_, k) => t.index + k)));
      const { run: removed } = await run(ids.filter((_t, k) => !drop.has(k)));
      row.trigger_removed = { ...removed, removed: ranked.slice(0, opts.triggers.top).map((t) => t.token) };
    }
    results.push(row);
  }
  const rate = (rows: typeof results, v: Verdict): Rates => {
    const share = (k: 'baseline' | 'intervened' | 'trigger_removed') => rows.filter((r) => r[k]?.verdict === v).length / rows.length;
    return { baseline: share('baseline'), intervened: share('intervened'), ...(opts.triggers ? { trigger_removed: share('trigger_removed') } : {}) };
  };
  const groups = new Map<string, typeof results>();
  for (const r of results) if (r.category !== undefined) groups.set(r.category, [...(groups.get(r.category) ?? []), r]);
  return {
    mode: opts.alpha === undefined ? 'remove' : 'subtract',
    alpha: opts.alpha ?? null,
    layers: opts.layers ?? Array.from({ length: L }, (_, j) => j),
    results,
    refusal_rate: rate(results, 'refused'),
    degenerate_rate: rate(results, 'degenerate'),
    perplexity: { baseline: Math.exp(nll.baseline / tokens), intervened: Math.exp(nll.intervened / tokens) },
    ...(opts.categories ? { by_category: Object.fromEntries([...groups].map(([name, rows]) => [name, { prompts: rows.length, refusal_rate: rate(rows, 'refused') }])) } : {}),
  };
}
