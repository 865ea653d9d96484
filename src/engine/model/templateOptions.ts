// The chat-template variables a researcher controls (system prompt, enable_thinking, the date that
// strftime_now returns), resolved once per tokenizer against what the template really does: each
// is probed by rendering, never assumed from the model family.
import type { TemplateInfo, TemplateOptions } from '../../protocol';
import { PINNED_CLOCK } from './chatTemplate';
import { EngineError } from './errors';
import { strftime, todayUtc } from './strftime';

export type ParsedTemplateOptions = { system: 'none' | 'default' | 'custom'; systemPrompt?: string; enableThinking: boolean; date?: string };

export interface Message {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** Renders messages with the template (generation prompt on or off) and the given extra variables; throws the template's own error. */
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
    ...(date ? { [PINNED_CLOCK]: (format: unknown) => strftime(date, String(format)) } : {}),
  };
  const user: Message = { role: 'user', content: USER_PROBE };
  let plain: string;
  try {
    plain = render([user], true, vars);
  } catch (e) {
    throw new EngineError('MODEL_INVALID', `the chat template failed to render: ${(e as Error).message}`);
  }
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
    const middle = plain.length >= before.length + after.length && plain.startsWith(before) && plain.endsWith(after) ? plain.slice(before.length, plain.length - after.length) : '';
    // Only text standing in for the system message: the user's message must stay outside it.
    if (after.includes(USER_PROBE) && !middle.includes(USER_PROBE)) defaultSystemPrompt = middle;
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
