// The model's own tokenizer and chat template, through transformers.js (templates run in the
// sandboxed Jinja interpreter of chatTemplate.ts; no model-supplied code is executed). Nothing here
// knows a model: post-instruction positions come from rendering the template around a placeholder.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { AutoTokenizer, env, PreTrainedTokenizer } from '@huggingface/transformers';
import { sandboxedTemplate } from './chatTemplate';
import { EngineError } from './errors';

const PLACEHOLDER = '\u2063refusal-lens-instruction\u2063';

export interface Encoded {
  ids: number[];
  /** The text that was tokenized (the rendered chat prompt when chat is on). */
  text: string;
}

export class ChatTokenizer {
  /** Token ids of the template text after the user's instruction, e.g. "<|im_end|>\n<|im_start|>assistant\n". */
  readonly postInstructionIds: number[];
  /** Token ids of the template text before the instruction, e.g. "<|im_start|>user\n". */
  readonly preInstructionIds: number[];

  private constructor(
    private readonly tok: PreTrainedTokenizer,
    readonly eosIds: number[],
    readonly padId: number,
  ) {
    [this.preInstructionIds, this.postInstructionIds] = this.hasChatTemplate ? this.templateParts() : [[], []];
  }

  static async load(dir: string, fallbackEos: number[] = [], fallbackPad?: number): Promise<ChatTokenizer> {
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
      ...fallbackEos,
      ...(typeof tok.eos_token_id === 'number' ? [tok.eos_token_id] : []),
    ]);
    const pad = tok.pad_token_id ?? fallbackPad ?? [...eos][0] ?? 0;
    return new ChatTokenizer(tok, [...eos], pad);
  }

  get hasChatTemplate(): boolean {
    return Boolean(this.tok.chat_template);
  }

  get className(): string {
    return (this.tok.config?.tokenizer_class as string | undefined) ?? this.tok.constructor.name;
  }

  get vocabSize(): number {
    return this.tok.get_vocab().size;
  }

  /** The chat prompt for one user message, as text (generation prompt appended, no system prompt). */
  render(instruction: string): string {
    if (!this.hasChatTemplate) {
      throw new EngineError('MODEL_INVALID', 'tokenizer_config.json has no chat_template (and there is no chat_template.jinja); use chat: false or add a template');
    }
    try {
      return this.tok.apply_chat_template([{ role: 'user', content: instruction }], {
        add_generation_prompt: true,
        tokenize: false,
      }) as string;
    } catch (e) {
      throw new EngineError('MODEL_INVALID', `the chat template failed to render: ${(e as Error).message}`);
    }
  }

  encode(text: string, opts: { chat: boolean }): Encoded {
    if (!opts.chat) return { ids: this.tok.encode(text), text };
    const rendered = this.render(text);
    // The rendered template already holds its special tokens (bos included where the model uses one).
    return { ids: this.tok.encode(rendered, { add_special_tokens: false }), text: rendered };
  }

  /** Index of the first post-instruction token in a chat-encoded prompt, or undefined if absent. */
  postInstructionStart(ids: number[]): number | undefined {
    const suffix = this.postInstructionIds;
    if (suffix.length === 0 || ids.length < suffix.length) return undefined;
    const start = ids.length - suffix.length;
    return suffix.every((t, i) => ids[start + i] === t) ? start : undefined;
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

  /** The first token id of each text when encoded as the start of an answer ("I cannot" -> id of "I"). */
  firstTokenIds(texts: string[]): number[] {
    return [...new Set(texts.map((t) => this.tok.encode(t, { add_special_tokens: false })[0]).filter((x) => x !== undefined))];
  }

  /** [first, end) of the user's instruction in a chat-encoded prompt (template tokens excluded). */
  instructionSpan(ids: number[]): [number, number] {
    const pre = this.preInstructionIds;
    const start = pre.length <= ids.length && pre.every((t, i) => ids[i] === t) ? pre.length : 0;
    return [start, this.postInstructionStart(ids) ?? ids.length];
  }

  /** The template around a placeholder message, tokenized: [before, after] the instruction. */
  private templateParts(): [number[], number[]] {
    const rendered = this.render(PLACEHOLDER);
    const at = rendered.lastIndexOf(PLACEHOLDER);
    if (at < 0) return [[], []];
    const encode = (text: string) => this.tok.encode(text, { add_special_tokens: false });
    return [encode(rendered.slice(0, at)), encode(rendered.slice(at + PLACEHOLDER.length))];
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
