// Shared CLI plumbing: option parsing with clear usage errors, the engine options every command
// takes, and output in human or --json form.
import os from 'node:os';
import path from 'node:path';
import { parseArgs, ParseArgsConfig } from 'node:util';
import { describeZodError, Dtype, DTYPES, LoadParams, TemplateOptions } from '../protocol';
import type { ParsedParamsOf } from '../protocol';

export class UsageError extends Error {}

export type Options = NonNullable<ParseArgsConfig['options']>;

export const MODEL_OPTIONS = {
  model: { type: 'string' },
  dtype: { type: 'string', default: 'fp32' },
  'cache-dir': { type: 'string' },
  threads: { type: 'string' },
  offline: { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  'system-prompt': { type: 'string', default: 'none' },
  thinking: { type: 'boolean', default: false },
  date: { type: 'string' },
} as const satisfies Options;

export const MODEL_HELP = `  --model <dir|owner/name>  model folder in transformers.js layout, or a Hugging Face Hub id
  --dtype <d>               ${DTYPES.join(', ')} (default fp32)
  --cache-dir <dir>         downloads and instrumented graphs (default $REFUSAL_LENS_CACHE or ~/.cache/refusal-lens)
  --threads <n>             onnxruntime intra-op threads (default: all cores)
  --offline                 never download; fail if the model is not local or cached
  --json                    print one JSON object instead of text
  --system-prompt <p>       chat template's system prompt: none (default; replaces a template's own),
                            default (what the template writes by itself), or the text to use
  --thinking                render with enable_thinking=true (default false, for templates that read it)
  --date <YYYY-MM-DD>       the date strftime_now gives templates that print today's date (default today)`;

export function parse<O extends Options>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export function defaultCacheDir(): string {
  return process.env.REFUSAL_LENS_CACHE || path.join(os.homedir(), '.cache', 'refusal-lens');
}

export function positiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} must be a positive integer, got '${value}'`);
  return n;
}

export function loadParams(values: {
  model?: string;
  dtype?: string;
  'cache-dir'?: string;
  threads?: string;
  offline?: boolean;
  'system-prompt'?: string;
  thinking?: boolean;
  date?: string;
}): ParsedParamsOf<'load'> {
  if (!values.model) throw new UsageError('--model is required (a model folder or a Hub id)');
  if (!DTYPES.includes(values.dtype as Dtype)) throw new UsageError(`--dtype must be one of ${DTYPES.join(', ')}, got '${values.dtype}'`);
  return LoadParams.parse({
    model: values.model,
    dtype: values.dtype,
    cacheDir: values['cache-dir'] ?? defaultCacheDir(),
    threads: positiveInt(values.threads, '--threads'),
    allowRemote: !values.offline,
    template: templateParams(values),
  });
}

function templateParams(values: { 'system-prompt'?: string; thinking?: boolean; date?: string }): TemplateOptions {
  const system = values['system-prompt'] ?? 'none';
  const parsed = TemplateOptions.safeParse({
    ...(system === 'none' || system === 'default' ? { system } : { system: 'custom', systemPrompt: system }),
    enableThinking: values.thinking ?? false,
    ...(values.date !== undefined ? { date: values.date } : {}),
  });
  if (!parsed.success) throw new UsageError(`--date: ${describeZodError(parsed.error)}`);
  return parsed.data;
}

/** Progress lines go to stderr so stdout stays clean for --json. */
export function stderrProgress(message: string, fraction?: number): void {
  process.stderr.write(fraction === undefined ? `… ${message}\n` : `… ${message} (${Math.round(fraction * 100)}%)\n`);
}
