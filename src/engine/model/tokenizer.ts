// The model's own tokenizer and chat template, through transformers.js (templates run in the
// sandboxed Jinja interpreter of chatTemplate.ts; no model-supplied code is executed). Nothing here
// knows a model: post-instruction positions and refusal tokens come from diffing full renderings.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { AutoTokenizer, env, PreTrainedTokenizer } from '@huggingface/transformers';
import type { ChatInfo, TemplateOptions } from '../../protocol';
import { sandboxedTemplate } from './chatTemplate';
import { EngineError } from './errors';
import { resolveTemplate, templateOptions, type Message, type ResolvedTemplate } from './templateOptions';

/** The answer openings whose first tokens form the refusal token set (paper: "I", "As"). */
export const REFUSAL_OPENINGS = ['I cannot', 'As an'];

/** Instructions rendered to find the template tokens around the user's text (they differ in first and last characters). */
const PROBES = ['Tell me a joke', 'What is 7 + 5?', 'xyzzy 42.'];
export const EXAMPLE_INSTRUCTION = 'How do I bake bread?';
/** Answers that share no first character with a refusal opening, to find where the answer starts. */
const ANSWER_SENTINELS = ['0', '#'];

export interface Encoded {
  ids: number[];
  /** The text that was tokenized (the rendered chat prompt when chat is on). */
  text: string;
}

export interface TokenizerOptions {
  eos?: number[];
  pad?: number;
  /** Rows of the model's embedding (config.json's vocab_size): larger ids are refused before any run. */
  modelVocab?: number;
  template?: TemplateOptions;
}

export class ChatTokenizer {
  /** Token ids the template puts after the user's instruction, e.g. "<|im_end|>\n<|im_start|>assistant\n". */
  readonly postInstructionIds: number[] = [];
  /** Token ids the template puts before the instruction, e.g. "<|im_start|>user\n". */
  readonly preInstructionIds: number[] = [];
  /** The template variables in effect (undefined without a chat template). */
  readonly template?: ResolvedTemplate;
  /** Default refusal tokens: first tokens of the refusal openings, in the answer's context and alone. */
  readonly refusalIds: number[];

  private constructor(
    private readonly tok: PreTrainedTokenizer,
    readonly eosIds: number[],
    readonly padId: number,
    private readonly modelVocab: number | undefined,
    template: TemplateOptions | undefined,
  ) {
    if (this.hasChatTemplate) {
      const source = String(this.tok.get_chat_template({}));
      this.template = resolveTemplate(source, templateOptions(template), (messages, generationPrompt, vars) => this.renderRaw(messages, generationPrompt, vars));
      [this.preInstructionIds, this.postInstructionIds] = this.templateParts();
    }
    this.refusalIds = this.refusalTokenIds(REFUSAL_OPENINGS);
  }

  static async load(dir: string, opts: TokenizerOptions = {}): Promise<ChatTokenizer> {
    env.allowRemoteModels = false;
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) {
      if (!existsSync(path.join(dir, f))) throw new EngineError('MODEL_INVALID', `${f} is missing in ${dir}`);
    }
    let tok: PreTrainedTokenizer;
    try {
      tok = await AutoTokenizer.from_pretrained(path.resolve(dir), { local_files_only: true });
    } catch (e) {
      // Name the file when it is not even JSON (transformers.js's message does not).
      for (const f of ['tokenizer.json', 'tokenizer_config.json']) readJson(path.join(dir, f));
      throw new EngineError('MODEL_INVALID', `the tokenizer in ${dir} cannot be loaded: ${(e as Error).message}`);
    }
    // Tokenizers do not read chat_template.jinja themselves (only processors do).
    const jinja = path.join(dir, 'chat_template.jinja');
    if (!tok.chat_template && existsSync(jinja)) tok.chat_template = readFileSync(jinja, 'utf8');
    sandboxTemplates(tok, dir);
    const generation = readJson(path.join(dir, 'generation_config.json'));
    const eos = new Set<number>([
      ...asIds(generation?.eos_token_id),
      ...(opts.eos ?? []),
      ...(typeof tok.eos_token_id === 'number' ? [tok.eos_token_id] : []),
    ]);
    const pad = tok.pad_token_id ?? opts.pad ?? [...eos][0] ?? 0;
    return new ChatTokenizer(tok, [...eos], pad, opts.modelVocab, opts.template);
  }

  get hasChatTemplate(): boolean {
    return Boolean(this.tok.chat_template);
  }

  get className(): string {
    return (this.tok.config?.tokenizer_class as string | undefined) ?? this.tok.constructor.name;
  }

  /** Entries of the tokenizer: one more than its largest id, added tokens included. */
  get vocabSize(): number {
    let max = -1;
    for (const id of this.tok.get_vocab().values()) max = Math.max(max, id);
    return max + 1;
  }

  /** The chat prompt for one user message, as text (generation prompt appended, system prompt as configured). */
  render(instruction: string): string {
    if (!this.template) {
      throw new EngineError('MODEL_INVALID', 'tokenizer_config.json has no chat_template (and there is no chat_template.jinja); use chat: false or add a template');
    }
    return this.renderMessages(this.messages(instruction), true, this.template.vars);
  }

  encode(text: string, opts: { chat: boolean }): Encoded {
    if (!opts.chat) return { ids: this.checkVocab(this.tok.encode(text)), text };
    const rendered = this.render(text);
    const ids = this.checkVocab(this.encodeRendered(rendered));
    this.checkSuffix(ids, text);
    return { ids, text: rendered };
  }

  /** Index of the first post-instruction token in a chat-encoded prompt, or undefined if absent. */
  postInstructionStart(ids: number[]): number | undefined {
    const suffix = this.postInstructionIds;
    if (suffix.length === 0 || ids.length < suffix.length) return undefined;
    const start = ids.length - suffix.length;
    return suffix.every((t, i) => ids[start + i] === t) ? start : undefined;
  }

  /** What the template gives the direction methods, for inspect, doctor and the explorer. */
  chatInfo(): ChatInfo | undefined {
    if (!this.template) return undefined;
    return {
      postInstructionTokens: this.tokenStrings(this.postInstructionIds),
      postInstructionTokenIds: this.postInstructionIds,
      refusalTokens: this.tokenStrings(this.refusalIds),
      refusalTokenIds: this.refusalIds,
      template: this.template.info,
      examplePrompt: this.render(EXAMPLE_INSTRUCTION),
    };
  }
  decode(ids: number[], skipSpecial: boolean): string {
    return this.tok.decode(ids, { skip_special_tokens: skipSpecial });
  }

  /** Per-token display strings, with the usual space/newline markers of BPE vocabularies made visible text. */
  tokenStrings(ids: number[]): string[] {
    const inner = this.tok._tokenizer as unknown as { id_to_token(id: number): string | undefined };
    return ids.map((id) => displayToken(inner.id_to_token(id) ?? this.tok.decode([id])));
  }

  /**
   * Where each token of `ids[start, end)` lies in `text` (the user's text those tokens encode), as
   * [from, to) character offsets, or null where a token cannot be placed (a partial UTF-8 byte, a
   * normalisation that changed the text). Tokens are matched in order, case-insensitively, each
   * searched a short way past the previous one.
   */
  spansIn(text: string, ids: number[], start: number, end: number): ([number, number] | null)[] {
    const spans: ([number, number] | null)[] = ids.map(() => null);
    const lower = text.toLowerCase();
    let cursor = 0;
    for (let i = start; i < end; i++) {
      const piece = this.tok.decode([ids[i]], { skip_special_tokens: true }).replace(/^##/, '').trim().toLowerCase();
      if (!piece || piece.includes('\ufffd')) continue;
      const at = lower.indexOf(piece, cursor);
      if (at < 0 || at - cursor > 64) continue;
      spans[i] = [at, at + piece.length];
      cursor = at + piece.length;
    }
    return spans;
  }

  /** The first token id of each text encoded alone ("I cannot" -> id of "I"). */
  firstTokenIds(texts: string[]): number[] {
    return [...new Set(texts.map((t) => this.tok.encode(t, { add_special_tokens: false })[0]).filter((x) => x !== undefined))];
  }

  /**
   * Refusal token ids for answer openings: the first token of each opening as the assistant's answer
   * in the chat template (which can differ from the text encoded alone: Mistral's 'I' after
   * '[/INST]', '▁I' alone), then the standalone encodings.
   */
  refusalTokenIds(openings: string[]): number[] {
    return [...new Set([...this.answerFirstTokens(openings), ...this.firstTokenIds(openings)])];
  }

  /** [first, end) of the user's instruction in a chat-encoded prompt (template tokens excluded). */
  instructionSpan(ids: number[]): [number, number] {
    const pre = this.preInstructionIds;
    const start = pre.length <= ids.length && pre.every((t, i) => ids[i] === t) ? pre.length : 0;
    return [start, this.postInstructionStart(ids) ?? ids.length];
  }

  private messages(instruction: string, answer?: string): Message[] {
    const system = this.template?.systemMessage;
    return [
      ...(system !== undefined ? [{ role: 'system' as const, content: system }] : []),
      { role: 'user', content: instruction },
      ...(answer !== undefined ? [{ role: 'assistant' as const, content: answer }] : []),
    ];
  }

  private renderRaw(messages: Message[], generationPrompt: boolean, vars: Record<string, unknown>): string {
    return this.tok.apply_chat_template(messages, { add_generation_prompt: generationPrompt, tokenize: false, ...vars }) as string;
  }

  private renderMessages(messages: Message[], generationPrompt: boolean, vars: Record<string, unknown>): string {
    try {
      return this.renderRaw(messages, generationPrompt, vars);
    } catch (e) {
      throw new EngineError('MODEL_INVALID', `the chat template failed to render: ${(e as Error).message}`);
    }
  }

  /** A rendered template already holds its special tokens (bos included where the model uses one). */
  private encodeRendered(rendered: string): number[] {
    return this.tok.encode(rendered, { add_special_tokens: false });
  }

  private checkVocab(ids: number[]): number[] {
    const limit = this.modelVocab;
    const bad = limit === undefined ? undefined : ids.find((id) => id >= limit);
    if (bad !== undefined) {
      throw new EngineError(
        'BAD_REQUEST',
        `the prompt holds token ${JSON.stringify(this.tokenStrings([bad])[0])} (id ${bad}), outside the model's embedding: config.json's vocab_size is ${limit}, ` +
          `the tokenizer has ${this.vocabSize} entries; remove that text from the prompt`,
      );
    }
    return ids;
  }

  /** Every chat prompt must end with the template's post-instruction tokens: extraction positions and the instruction span rely on it. */
  private checkSuffix(ids: number[], instruction: string): void {
    const want = this.postInstructionIds;
    if (want.length === 0 || this.postInstructionStart(ids) !== undefined) return;
    const got = ids.slice(-want.length);
    const show = (t: number[]) => `${JSON.stringify(this.tokenStrings(t))} (ids ${t.join(', ')})`;
    throw new EngineError(
      'BAD_REQUEST',
      `the prompt ${JSON.stringify(instruction.length > 60 ? `${instruction.slice(0, 57)}...` : instruction)} does not end with the chat template's post-instruction tokens ` +
        `${show(want)}: its last tokens are ${show(got)} (the end of the instruction merges with the template's text; remove trailing whitespace or symbols)`,
    );
  }

  /** Token ids before and after the instruction: the common prefix and suffix of renderings of different instructions. */
  private templateParts(): [number[], number[]] {
    const seqs = PROBES.map((p) => this.encodeRendered(this.render(p)));
    const shortest = Math.min(...seqs.map((s) => s.length));
    let pre = 0;
    while (pre < shortest && seqs.every((s) => s[pre] === seqs[0][pre])) pre++;
    let post = 0;
    while (pre + post < shortest && seqs.every((s) => s[s.length - 1 - post] === seqs[0][seqs[0].length - 1 - post])) post++;
    return [seqs[0].slice(0, pre), seqs[0].slice(seqs[0].length - post)];
  }

  /** The first token of each opening where the template places it as the assistant's answer (none without a template that renders one). */
  private answerFirstTokens(openings: string[]): number[] {
    if (!this.template) return [];
    let seqs: number[][];
    try {
      seqs = [...openings, ...ANSWER_SENTINELS].map((a) => this.encodeRendered(this.renderMessages(this.messages(PROBES[0], a), false, this.template!.vars)));
    } catch {
      return [];
    }
    let at = 0;
    while (seqs.every((s) => at < s.length && s[at] === seqs[0][at])) at++;
    return openings.map((_, i) => seqs[i][at]).filter((x) => x !== undefined);
  }
}

/**
 * Turns a stream of generated ids into text increments: the whole continuation is decoded each time
 * and only the new suffix is emitted, so characters spanning several tokens arrive intact.
 */
export function textStream(tok: ChatTokenizer, emit: (text: string) => void): (id: number) => void {
  const ids: number[] = [];
  let shown = '';
  return (id) => {
    ids.push(id);
    const text = tok.decode(ids, true);
    emit(text.slice(shown.length));
    shown = text;
  };
}

export function displayToken(t: string): string {
  if (/^<0x[0-9A-Fa-f]{2}>$/.test(t)) {
    const byte = parseInt(t.slice(3, 5), 16);
    return byte < 0x80 ? String.fromCharCode(byte) : t;
  }
  return t.replace(/[\u0120\u2581]/g, ' ').replace(/\u010a/g, '\n').replace(/\u0109/g, '\t');
}

/**
 * transformers.js renders chat templates through its cache of compiled templates: the sandboxed
 * ones (chatTemplate.ts) go in first, so its own unbounded compile never runs. Fails closed if a
 * transformers.js upgrade drops the cache.
 */
function sandboxTemplates(tok: PreTrainedTokenizer, dir: string): void {
  const cache = (tok as unknown as { _compiled_template_cache?: unknown })._compiled_template_cache;
  if (!(cache instanceof Map)) throw new EngineError('INTERNAL', 'transformers.js has no compiled-template cache to hold the sandboxed chat templates');
  const templates: unknown = tok.chat_template;
  const sources = typeof templates === 'string' ? [templates] : typeof templates === 'object' && templates ? Object.values(templates) : [];
  for (const source of sources.filter((t): t is string => typeof t === 'string')) {
    try {
      cache.set(source, sandboxedTemplate(source));
    } catch (e) {
      throw new EngineError('MODEL_INVALID', `the chat template in ${dir} cannot be parsed: ${(e as Error).message}`);
    }
  }
}

function readJson(file: string): Record<string, unknown> | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new EngineError('MODEL_INVALID', `${file} is not valid JSON (${(e as Error).message})`);
  }
}

function asIds(v: unknown): number[] {
  if (typeof v === 'number') return [v];
  return Array.isArray(v) ? v.filter((x): x is number => typeof x === 'number') : [];
}

export const loadTokenizer = ChatTokenizer.load;
