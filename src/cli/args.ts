// Shared CLI plumbing: option parsing with clear usage errors, the engine options every command
// takes, and output in human or --json form.
import os from 'node:os';
import path from 'node:path';
import { parseArgs, ParseArgsConfig } from 'node:util';
import { loadPrompts } from '../engine/directions/datasets';
import type { PromptSet } from '../engine/directions/prompts';
import { describeZodError, Dtype, DTYPES, LoadParams, type Provider, PROVIDERS, TemplateOptions } from '../protocol';
import type { ParsedParamsOf } from '../protocol';

export class UsageError extends Error {}

export type Options = NonNullable<ParseArgsConfig['options']>;

export const MODEL_OPTIONS = {
  model: { type: 'string' },
  dtype: { type: 'string', default: 'fp32' },
  'cache-dir': { type: 'string' },
  threads: { type: 'string' },
  provider: { type: 'string', default: 'cpu' },
  offline: { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  'system-prompt': { type: 'string', default: 'none' },
  thinking: { type: 'boolean', default: false },
  date: { type: 'string' },
} as const satisfies Options;

/** For the help of every option that takes prompts. */
export const PROMPTS_HELP = `
Prompts: a file (text, one per line; json; jsonl; csv) or a Hub dataset, read from parquet, json,
jsonl or csv and downloaded into the cache: hf:<owner>/<dataset>[:config][:split][:column], e.g.
hf:walledai/AdvBench or hf:JailbreakBench/JBB-Behaviors:behaviors:harmful:Goal.
`;

export const MODEL_HELP = `  --model <dir|owner/name>  model folder in transformers.js layout, or a Hugging Face Hub id
  --dtype <d>               ${DTYPES.join(', ')} (default fp32)
  --cache-dir <dir>         downloads and instrumented graphs (default $REFUSAL_LENS_CACHE or ~/.cache/refusal-lens)
  --threads <n>             onnxruntime intra-op threads (default: all cores)
  --provider <p>            execution provider: ${PROVIDERS.join(', ')} (default cpu; cuda on Linux, dml on
                            Windows, coreml on macOS; runs on CPU, saying why, when it cannot start)
  --offline                 never download; fail if the model is not local or cached
  --json                    print one JSON object instead of text
  --system-prompt <p>       chat template's system prompt: none (default; replaces a template's own),
                            default (what the template writes by itself), or the text to use
  --thinking                render with enable_thinking=true (default false, for templates that read it)
  --date <YYYY-MM-DD>       the date strftime_now gives templates that print today's date (default today)`;

/**
 * util.parseArgs refuses `--coefficient -1` as ambiguous (the value looks like an option). A string
 * option takes the next token as its value unless that token is itself a long option (then the value
 * is missing), so negative numbers (and prompts starting with '-') work with or without '='.
 */
function attachValues(argv: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = argv[i + 1];
    const opt = a.startsWith('--') && !a.includes('=') ? options[a.slice(2)] : undefined;
    if (opt?.type !== 'string') out.push(a);
    else if (next === undefined || next.startsWith('--')) throw new UsageError(`${a} needs a value (write ${a}=<value> for one that starts with --)`);
    else {
      out.push(`${a}=${next}`);
      i++;
    }
  }
  return out;
}

export function parse<O extends Options>(argv: string[], options: O) {
  try {
    return parseArgs({ args: attachValues(argv, options), options, strict: true, allowPositionals: false });
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
  provider?: string;
  offline?: boolean;
  'system-prompt'?: string;
  thinking?: boolean;
  date?: string;
}): ParsedParamsOf<'load'> {
  if (!values.model) throw new UsageError('--model is required (a model folder or a Hub id)');
  if (!DTYPES.includes(values.dtype as Dtype)) throw new UsageError(`--dtype must be one of ${DTYPES.join(', ')}, got '${values.dtype}'`);
  const provider = values.provider ?? 'cpu';
  if (!PROVIDERS.includes(provider as Provider)) throw new UsageError(`--provider must be one of ${PROVIDERS.join(', ')}, got '${provider}'`);
  return LoadParams.parse({
    model: values.model,
    dtype: values.dtype,
    cacheDir: values['cache-dir'] ?? defaultCacheDir(),
    threads: positiveInt(values.threads, '--threads'),
    provider,
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

/** stderr's own write, once progress is shown on a terminal: other output first erases the progress line. */
let progressWrite: ((text: string) => boolean) | undefined;
let progressShown = false;

function eraseProgressBeforeOutput(): (text: string) => boolean {
  const raw = process.stderr.write.bind(process.stderr) as (text: string) => boolean;
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (...a: unknown[]) => boolean;
    stream.write = ((...a: unknown[]) => {
      if (progressShown) raw('\r\x1b[K');
      progressShown = false;
      return write(...a);
    }) as typeof stream.write;
  }
  return raw;
}

/**
 * Progress goes to stderr so stdout stays clean for --json. On a terminal it is one line, rewritten
 * in place (and erased before anything else is printed); elsewhere (logs, pipes) one line per step.
 */
export function stderrProgress(message: string, fraction?: number): void {
  const line = fraction === undefined ? `… ${message}` : `… ${message} (${Math.round(fraction * 100)}%)`;
  if (!process.stderr.isTTY) {
    process.stderr.write(`${line}\n`);
    return;
  }
  progressWrite ??= eraseProgressBeforeOutput();
  progressWrite(`\r\x1b[K${line.slice(0, (process.stderr.columns || 80) - 1)}`);
  progressShown = true;
}

/** Reads prompt files and `hf:` datasets (downloaded into the cache, honouring --offline), for the options that take prompts. */
export function promptLoader(values: { 'cache-dir'?: string; offline?: boolean; json?: boolean }): (source: string) => Promise<PromptSet> {
  return (source) => loadPrompts(source, { cacheDir: values['cache-dir'] ?? defaultCacheDir(), allowRemote: !values.offline, onProgress: values.json ? undefined : stderrProgress });
}
