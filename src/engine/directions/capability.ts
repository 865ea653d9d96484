// Capability checks for a steered or exported model, as Arditi et al. check their orthogonalized
// models: multiple-choice accuracy by log-likelihood of each choice (lm-evaluation-harness "acc":
// context = question, continuation = " " + choice, summed log-probability, argmax) and perplexity on
// plain text (token-pooled, windows of PERPLEXITY_WINDOW tokens). Raw text, no chat template, as the
// harness does.
import type { DirectionRef, SteeringParsed } from '../../protocol';
import { throwIfCancelled } from '../cancel';
import { EngineError } from '../model/errors';
import { forward } from '../runtime/forward';
import { steeringTensors, type SteeringTensors } from '../runtime/steering';
import { conditionSteering } from './evaluate';
import type { LoadedModel } from './extract';
import { logSoftmax } from './metrics';

export interface McItem {
  question: string;
  choices: string[];
  /** Index of the right choice. */
  answer: number;
}

/** Paper A's Pile loss uses 256-token sequences. */
export const PERPLEXITY_WINDOW = 256;

/** lm-evaluation-harness style jsonl: one {"question", "choices", "answer"} per line (answer: index, or a letter A, B, …). */
export function parseMc(text: string, file: string): McItem[] {
  const items = text
    .split('\n')
    .map((line, i) => [line, i + 1] as const)
    .filter(([line]) => line.trim())
    .map(([line, n]) => {
      const where = `${file}:${n}`;
      let r: Record<string, unknown>;
      try {
        r = JSON.parse(line);
      } catch (e) {
        throw new EngineError('BAD_REQUEST', `${where} is not valid JSON (${(e as Error).message})`);
      }
      const { question, choices, answer } = r ?? {};
      if (typeof question !== 'string' || !question.trim()) throw new EngineError('BAD_REQUEST', `${where}: "question" must be a non-empty string`);
      if (!Array.isArray(choices) || choices.length < 2 || !choices.every((c) => typeof c === 'string' && c.trim())) {
        throw new EngineError('BAD_REQUEST', `${where}: "choices" must be a list of at least two non-empty strings`);
      }
      const index = typeof answer === 'string' && /^[A-Z]$/.test(answer) ? answer.charCodeAt(0) - 65 : answer;
      if (!Number.isInteger(index) || (index as number) < 0 || (index as number) >= choices.length) {
        throw new EngineError('BAD_REQUEST', `${where}: "answer" must be the index of a choice (0..${choices.length - 1}) or its letter, got ${JSON.stringify(answer)}`);
      }
      return { question, choices: choices as string[], answer: index as number };
    });
  if (items.length === 0) throw new EngineError('BAD_REQUEST', `${file} holds no multiple-choice items`);
  return items;
}

/** Sum of log p(ids[i] | ids[<i]) for i ≥ from, given [seq, vocab] logits. */
function logLikelihood(logits: Float32Array, ids: number[], from: number): { sum: number; tokens: number } {
  const V = logits.length / ids.length;
  let sum = 0;
  for (let i = Math.max(1, from); i < ids.length; i++) sum += logSoftmax(logits.subarray((i - 1) * V, i * V))[ids[i]];
  return { sum, tokens: ids.length - Math.max(1, from) };
}

export interface CapabilityOptions {
  mc?: McItem[];
  text?: string[];
  steering?: SteeringParsed;
  signal?: AbortSignal;
  progress?: (message: string, fraction?: number) => void;
}

export interface CapabilityResult {
  /** Multiple-choice accuracy; NaN without items. */
  accuracy: number;
  /** Which choice the model picked for each item. */
  picks: number[];
  /** exp of the token-pooled cross-entropy over the text; NaN without text. */
  perplexity: number;
  tokens: number;
}

export async function capability(model: LoadedModel, opts: CapabilityOptions): Promise<CapabilityResult> {
  const steer: SteeringTensors | undefined = opts.steering && steeringTensors(opts.steering, model.info.layers, model.info.hiddenSize);
  const encode = (t: string) => model.tokenizer.encode(t, { chat: false }).ids;
  const run = (seqs: number[][]) => forward(model.decoder, seqs, { hooks: [], logits: 'all', steering: steer, signal: opts.signal });
  const mc = opts.mc ?? [];
  const picks: number[] = [];
  for (const [i, item] of mc.entries()) {
    throwIfCancelled(opts.signal);
    opts.progress?.(`multiple choice ${i + 1} of ${mc.length}`, i / mc.length);
    const context = encode(item.question);
    const seqs = item.choices.map((c) => encode(`${item.question} ${c}`));
    const outs = await run(seqs);
    const scores = seqs.map((ids, k) => {
      // The harness's split: the continuation is what follows the context's own encoding.
      const shared = context.every((t, j) => ids[j] === t) ? context.length : 0;
      if (shared === 0 || shared >= ids.length) throw new EngineError('BAD_REQUEST', `item ${i + 1}: choice ${k} does not encode as a continuation of the question`);
      return logLikelihood(outs[k].logits!, ids, shared).sum;
    });
    picks.push(scores.indexOf(Math.max(...scores)));
  }
  let nll = 0;
  let tokens = 0;
  const windows = (opts.text ?? []).flatMap((t) => {
    const ids = encode(t);
    return Array.from({ length: Math.ceil(ids.length / PERPLEXITY_WINDOW) }, (_, w) => ids.slice(w * PERPLEXITY_WINDOW, (w + 1) * PERPLEXITY_WINDOW)).filter((w) => w.length > 1);
  });
  for (const [i, ids] of windows.entries()) {
    throwIfCancelled(opts.signal);
    opts.progress?.(`perplexity, window ${i + 1} of ${windows.length}`);
    const [out] = await run([ids]);
    const ll = logLikelihood(out.logits!, ids, 1);
    nll -= ll.sum;
    tokens += ll.tokens;
  }
  return {
    accuracy: mc.length ? picks.filter((p, i) => p === mc[i].answer).length / mc.length : NaN,
    picks,
    perplexity: tokens ? Math.exp(nll / tokens) : NaN,
    tokens,
  };
}

/** Plain text split into paragraphs (blank lines), each scored on its own. */
export function paragraphs(text: string): string[] {
  return text
    .split(/\r?\n\s*\r?\n/)
    .map((p) => p.trim())
    .filter(Boolean);
}

/** The baseline and, given a direction, the direction ablated at every layer and position. */
export async function capabilityWithAblation(model: LoadedModel, direction: DirectionRef | undefined, opts: Omit<CapabilityOptions, 'steering'>): Promise<Record<string, CapabilityResult>> {
  const out: Record<string, CapabilityResult> = { baseline: await capability(model, opts) };
  if (direction) out.ablation = await capability(model, { ...opts, steering: conditionSteering('ablation', direction, 1) });
  return out;
}
