// Evaluation of a direction as in Arditi et al.: greedy completions under baseline, directional
// ablation (every layer and position) and activation addition (raw vector at its source layer,
// chosen coefficient), judged refused / answered / degenerate (verdict.ts); KL of the first-token
// distribution against baseline; cross-entropy of the baseline's own completions under each
// condition (damage), token-pooled with EOS excluded as the reference code does. Unlike the
// reference, addition is scored with the run's coefficient (the paper's CE table uses −1).
import { Condition, type DirectionRef, type SteeringParsed, type Verdict } from '../../protocol';
import { throwIfCancelled } from '../cancel';
import { forward } from '../runtime/forward';
import { generate } from '../runtime/generate';
import { steeringTensors, SteeringTensors } from '../runtime/steering';
import { textStream } from '../model/tokenizer';
import { EngineError } from '../model/errors';
import { checkDirection, type LoadedModel } from './extract';
import { klDivergence, logSoftmax } from './metrics';
import { disagrees, type Judge, type JudgeVerdict } from './judge';
import { verdict } from './verdict';

export { isRefusal, REFUSAL_SUBSTRINGS } from './verdict';

/** In the protocol's order: a streamed token's index is prompt × 3 + the condition's place here. */
export const CONDITIONS = Condition.options;

export interface EvaluateOptions {
  direction: DirectionRef;
  /** ActAdd coefficient: +1 induces refusal on harmless prompts, −1 is the paper's jailbreak condition. */
  coefficient?: number;
  maxNewTokens?: number;
  substrings?: string[];
  conditions?: Condition[];
  /** One category per prompt (a prompt file's category column): rates come back per category too. */
  categories?: string[];
  /** A judge model beside the substring verdict (judge.ts). */
  judge?: Judge;
  signal?: AbortSignal;
  progress?: (message: string, fraction?: number) => void;
  /** Each prompt's results as soon as they are known (the UI streams them). */
  onResult?: (result: PromptResult, index: number) => void;
  onToken?: (prompt: number, condition: Condition, text: string) => void;
}

export interface Completion {
  text: string;
  ids: number[];
  verdict: Verdict;
  judge?: JudgeVerdict & { disagrees: boolean };
}

export interface PromptResult {
  prompt: string;
  completions: Partial<Record<Condition, Completion>>;
  /** KL(baseline ‖ condition) of the next-token distribution at the last prompt position. */
  kl: Partial<Record<Condition, number>>;
  /** Mean cross-entropy (nats/token) of the baseline completion (EOS excluded) under each condition. */
  ce: Partial<Record<Condition, number>>;
  /** Tokens the cross-entropy is over (the baseline completion without its EOS). */
  ceTokens: number;
  category?: string;
}

export type Rates = Partial<Record<Condition, number>>;

export interface EvaluateResult {
  conditions: Condition[];
  coefficient: number;
  results: PromptResult[];
  refusal_rate: Rates;
  degenerate_rate: Rates;
  kl: Rates;
  /** Token-pooled over every prompt's baseline completion (the reference code's evaluate_loss). */
  ce: Rates;
  /** With a judge: the share judged unsafe, and the share where judge and substring verdict disagree. */
  judge_unsafe_rate?: Rates;
  disagreement_rate?: Rates;
  /** Per category, when the prompts had categories (in order of first appearance). */
  by_category?: Record<string, { prompts: number; refusal_rate: Rates; degenerate_rate: Rates }>;
}

export function conditionSteering(condition: Condition, d: DirectionRef, coefficient: number): SteeringParsed | undefined {
  if (condition === 'ablation') return { ablate: [d.vector], positions: 'all' };
  if (condition === 'addition') return { add: [{ vector: d.vector, layers: [d.layer], coefficient }], positions: 'all' };
  return undefined;
}

export function checkCategories(categories: string[] | undefined, prompts: number): void {
  if (categories && categories.length !== prompts) throw new EngineError('BAD_REQUEST', `${categories.length} categories for ${prompts} prompts: give one category per prompt`);
}

/** A completion as the reference code scores it: without its final EOS token. */
export function withoutEos(ids: number[], eosIds: number[]): number[] {
  return ids.length && eosIds.includes(ids.at(-1)!) ? ids.slice(0, -1) : ids;
}

/** Mean −log p of `completion` after `prompt` (teacher forcing), under the given steering, applied at the positions it covers in generation. */
export async function crossEntropy(model: LoadedModel, prompt: number[], completion: number[], steering?: SteeringTensors, signal?: AbortSignal): Promise<number> {
  if (completion.length === 0) return NaN;
  const [out] = await forward(model.decoder, [[...prompt, ...completion]], { hooks: [], logits: 'all', steering, signal, generated: completion.length });
  const V = out.logits!.length / (prompt.length + completion.length);
  let total = 0;
  completion.forEach((t, i) => {
    const pos = prompt.length - 1 + i;
    total -= logSoftmax(out.logits!.subarray(pos * V, (pos + 1) * V))[t];
  });
  return total / completion.length;
}

export async function evaluateDirection(model: LoadedModel, prompts: string[], opts: EvaluateOptions): Promise<EvaluateResult> {
  checkDirection(model.info, opts.direction);
  checkCategories(opts.categories, prompts.length);
  const conditions = opts.conditions ?? CONDITIONS;
  const coefficient = opts.coefficient ?? 1;
  const { layers, hiddenSize } = model.info;
  const steering = Object.fromEntries(
    conditions.map((c) => {
      const s = conditionSteering(c, opts.direction, coefficient);
      return [c, s && steeringTensors(s, layers, hiddenSize)];
    }),
  ) as Record<Condition, SteeringTensors | undefined>;
  const results: PromptResult[] = [];
  // Cancellation: before each prompt, between generated tokens (generate), after each generation,
  // and before each cross-entropy run (forward).
  for (const [i, prompt] of prompts.entries()) {
    throwIfCancelled(opts.signal);
    opts.progress?.(`Prompt ${i + 1} of ${prompts.length}`, i / prompts.length);
    const ids = model.tokenizer.encode(prompt, { chat: true }).ids;
    const r: PromptResult = { prompt, completions: {}, kl: {}, ce: {}, ceTokens: 0, ...(opts.categories ? { category: opts.categories[i] } : {}) };
    const firstLogits: Partial<Record<Condition, Float32Array>> = {};
    for (const c of conditions) {
      const stream = opts.onToken && textStream(model.tokenizer, (text) => opts.onToken!(i, c, text));
      const gen = await generate(model.decoder, ids, {
        maxNewTokens: opts.maxNewTokens ?? 64,
        eosIds: model.tokenizer.eosIds,
        steering: steering[c],
        hooks: [],
        useCache: true,
        signal: opts.signal,
        keepLogits: true,
        onToken: stream,
      });
      // A cancelled generation returns what it has: this prompt's results would be incomplete.
      throwIfCancelled(opts.signal);
      const text = model.tokenizer.decode(gen.ids, true);
      const v = verdict(text, opts.substrings);
      const judged = opts.judge && (await opts.judge.judge(prompt, text, opts.signal));
      r.completions[c] = { text, ids: gen.ids, verdict: v, ...(judged ? { judge: { ...judged, disagrees: disagrees(v, judged) } } : {}) };
      firstLogits[c] = gen.stepLogits?.[0];
    }
    const scored = r.completions.baseline && withoutEos(r.completions.baseline.ids, model.tokenizer.eosIds);
    r.ceTokens = scored?.length ?? 0;
    for (const c of conditions) {
      if (firstLogits.baseline && firstLogits[c]) r.kl[c] = klDivergence(firstLogits.baseline, firstLogits[c]!);
      if (scored?.length) r.ce[c] = await crossEntropy(model, ids, scored, steering[c], opts.signal);
    }
    results.push(r);
    opts.onResult?.(r, i);
  }
  return {
    conditions,
    coefficient,
    results,
    ...rates(results, conditions),
    kl: mean(results, conditions, (r, c) => r.kl[c]),
    ce: Object.fromEntries(conditions.map((c) => [c, pooled(results, c)])),
    ...(opts.judge
      ? {
          judge_unsafe_rate: mean(results, conditions, (r, c) => (r.completions[c]?.judge ? Number(r.completions[c]!.judge!.unsafe) : undefined)),
          disagreement_rate: mean(results, conditions, (r, c) => (r.completions[c]?.judge ? Number(r.completions[c]!.judge!.disagrees) : undefined)),
        }
      : {}),
    ...(opts.categories ? { by_category: byCategory(results, conditions) } : {}),
  };
}

function mean(results: PromptResult[], conditions: Condition[], f: (r: PromptResult, c: Condition) => number | undefined): Rates {
  return Object.fromEntries(
    conditions.map((c) => {
      const xs = results.map((r) => f(r, c)).filter((x): x is number => x !== undefined && Number.isFinite(x));
      return [c, xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN];
    }),
  );
}

/** Refusal and degenerate rates per condition over the given prompts' verdicts. */
export function rates(results: Pick<PromptResult, 'completions'>[], conditions: Condition[]): { refusal_rate: Rates; degenerate_rate: Rates } {
  const share = (v: Verdict) => mean(results as PromptResult[], conditions, (r, c) => (r.completions[c] ? (r.completions[c]!.verdict === v ? 1 : 0) : undefined));
  return { refusal_rate: share('refused'), degenerate_rate: share('degenerate') };
}

/** Σ tokens × mean = Σ −log p over every completion token, divided by the number of tokens. */
function pooled(results: PromptResult[], c: Condition): number {
  let nll = 0;
  let tokens = 0;
  for (const r of results) {
    if (r.ce[c] === undefined || !Number.isFinite(r.ce[c])) continue;
    nll += r.ce[c]! * r.ceTokens;
    tokens += r.ceTokens;
  }
  return tokens ? nll / tokens : NaN;
}

function byCategory(results: PromptResult[], conditions: Condition[]): NonNullable<EvaluateResult['by_category']> {
  const groups = new Map<string, PromptResult[]>();
  for (const r of results) groups.set(r.category!, [...(groups.get(r.category!) ?? []), r]);
  return Object.fromEntries([...groups].map(([name, rs]) => [name, { prompts: rs.length, ...rates(rs, conditions) }]));
}
