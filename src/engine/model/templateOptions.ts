// The chat-template variables a researcher controls (system prompt, enable_thinking, the date that
// strftime_now returns), resolved once per tokenizer against what the template really does: each
// is probed by rendering, never assumed from the model family.
import type { TemplateInfo, TemplateOptions } from '../../protocol';
import { EngineError } from './errors';

export type ParsedTemplateOptions = { system: 'none' | 'default' | 'custom'; systemPrompt?: string; enableThinking: boolean; date?: string };

export interface Message {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** Renders messages with the template (generation prompt on or off) and the given extra variables. */
export type RenderMessages = (messages: Message[], generationPrompt: boolean, vars: Record<string, unknown>) => string;

export interface ResolvedTemplate {
  info: TemplateInfo;
  /** The system message every prompt starts with, if any. */
  systemMessage?: string;
  /** Extra variables for every rendering (enable_thinking, strftime_now). */
  vars: Record<string, unknown>;
}

const SYSTEM_MARK = '\u2063refusal-lens-system\u2063';
const USER_PROBE = 'Hello';

export const DEFAULT_TEMPLATE_OPTIONS: ParsedTemplateOptions = { system: 'none', enableThinking: false };

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** Python's strftime for a fixed UTC date (midnight), the subset chat templates use. */
export function strftime(date: string, format: string): string {
  const d = new Date(`${date}T00:00:00Z`);
  const pad = (n: number) => String(n).padStart(2, '0');
  const month = MONTHS[d.getUTCMonth()];
  const day = DAYS[d.getUTCDay()];
  const codes: Record<string, string> = {
    Y: String(d.getUTCFullYear()),
    y: pad(d.getUTCFullYear() % 100),
    m: pad(d.getUTCMonth() + 1),
    d: pad(d.getUTCDate()),
    B: month,
    b: month.slice(0, 3),
    A: day,
    a: day.slice(0, 3),
    H: '00',
    M: '00',
    S: '00',
    '%': '%',
  };
  return format.replace(/%(.)/g, (all, c: string) => codes[c] ?? all);
}

export const todayUtc = () => new Date().toISOString().slice(0, 10);

/**
 * Resolves the options against the template `source` (its text, to see which variables it reads)
 * by rendering: whether it injects a default system prompt, rejects or drops a system message.
 */
export function resolveTemplate(source: string, opts: ParsedTemplateOptions, render: RenderMessages): ResolvedTemplate {
  const usesThinking = source.includes('enable_thinking');
  const usesDate = source.includes('strftime_now');
  if (opts.enableThinking && !usesThinking) {
    throw new EngineError('BAD_REQUEST', 'enable_thinking is on, but this chat template has no thinking switch (it never reads enable_thinking); turn the option off for this model');
  }
  const date = usesDate ? (opts.date ?? todayUtc()) : undefined;
  const vars: Record<string, unknown> = {
    ...(usesThinking ? { enable_thinking: opts.enableThinking } : {}),
    ...(date ? { strftime_now: (format: string) => strftime(date, String(format)) } : {}),
  };
  const user: Message = { role: 'user', content: USER_PROBE };
  const plain = render([user], true, vars);
  let rejected: string | undefined;
  let withSystem: string | undefined;
  try {
    withSystem = render([{ role: 'system', content: SYSTEM_MARK }, user], true, vars);
  } catch (e) {
    rejected = (e as Error).message;
  }
  // The template's default system text: what stands where a given system message would.
  let defaultSystemPrompt = '';
  const at = withSystem?.indexOf(SYSTEM_MARK) ?? -1;
  if (withSystem !== undefined && at >= 0) {
    const before = withSystem.slice(0, at);
    const after = withSystem.slice(at + SYSTEM_MARK.length);
    if (plain.length >= before.length + after.length && plain.startsWith(before) && plain.endsWith(after)) {
      defaultSystemPrompt = plain.slice(before.length, plain.length - after.length);
    }
  }
  let systemMessage: string | undefined;
  if (opts.system === 'custom') {
    if (rejected !== undefined) throw new EngineError('BAD_REQUEST', `this chat template rejects a system message (${rejected}); use system prompt 'none' or 'default' with this model`);
    if (at < 0) throw new EngineError('BAD_REQUEST', "this chat template drops a system message silently (it never appears in the rendered prompt); use system prompt 'none' or 'default' with this model");
    systemMessage = opts.systemPrompt ?? '';
  } else if (opts.system === 'none' && defaultSystemPrompt !== '') {
    // An empty system message takes the place of the template's own.
    systemMessage = '';
  }
  const systemPrompt = opts.system === 'custom' ? (systemMessage ?? '') : opts.system === 'default' ? defaultSystemPrompt : '';
  return {
    info: { system: opts.system, systemPrompt, defaultSystemPrompt, enableThinking: usesThinking ? opts.enableThinking : null, date: date ?? null },
    systemMessage,
    vars,
  };
}

/** Options parsed by the protocol's schema, or the defaults. */
export function templateOptions(opts: TemplateOptions | undefined): ParsedTemplateOptions {
  return { ...DEFAULT_TEMPLATE_OPTIONS, ...opts } as ParsedTemplateOptions;
}

/** Differences between the template variables a direction was made with and those in effect, as text. */
export function templateDifferences(made: TemplateInfo, now: TemplateInfo): string[] {
  const out: string[] = [];
  const show = (v: unknown) => (v === null ? 'unused' : JSON.stringify(v));
  if (made.system !== now.system || made.systemPrompt !== now.systemPrompt) out.push(`system prompt ${made.system} ${show(made.systemPrompt)} then, ${now.system} ${show(now.systemPrompt)} now`);
  if (made.enableThinking !== now.enableThinking) out.push(`enable_thinking ${show(made.enableThinking)} then, ${show(now.enableThinking)} now`);
  if (made.date !== now.date) out.push(`date ${show(made.date)} then, ${show(now.date)} now`);
  return out;
}
