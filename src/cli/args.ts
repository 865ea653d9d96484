// Shared CLI plumbing: option parsing (commander) with clear usage errors and help generated from
// the declarations, the engine options every command takes, and output in human or --json form.
import os from 'node:os';
import path from 'node:path';
import type { parseArgs, ParseArgsConfig } from 'node:util';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { loadPrompts } from '../engine/directions/datasets';
import type { PromptSet } from '../engine/directions/prompts';
import { describeZodError, Dtype, DTYPES, LoadParams, type Provider, PROVIDERS, TemplateOptions } from '../protocol';
import type { ParsedParamsOf } from '../protocol';

export class UsageError extends Error {}

/**
 * An option declaration, in util.parseArgs's shape (so `{ type: 'string', default: '1' }` objects
 * keep working) plus what the generated help shows: a description and the value's name.
 */
export type OptionSpec = NonNullable<ParseArgsConfig['options']>[string] & { description?: string; valueName?: string };
export type Options = Record<string, OptionSpec>;

export const MODEL_OPTIONS = {
  model: { type: 'string', valueName: 'dir|owner/name', description: 'model folder in transformers.js layout (a Hugging Face cache snapshot folder too), or a Hugging Face Hub id' },
  dtype: { type: 'string', default: 'fp32', valueName: 'd', description: `${DTYPES.join(', ')}` },
  'cache-dir': { type: 'string', valueName: 'dir', description: 'instrumented graphs (default $REFUSAL_LENS_CACHE or ~/.cache/refusal-lens); Hub models live in the Hugging Face cache ($HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub)' },
  threads: { type: 'string', valueName: 'n', description: 'onnxruntime intra-op threads (default: all cores)' },
  provider: { type: 'string', default: 'cpu', valueName: 'p', description: `execution provider: ${PROVIDERS.join(', ')} (cuda on Linux, dml on Windows, coreml on macOS; runs on CPU, saying why, when it cannot start)` },
  offline: { type: 'boolean', default: false, description: 'never download; fail if the model is not local or cached' },
  json: { type: 'boolean', default: false, description: 'print one JSON object instead of text' },
  'system-prompt': { type: 'string', default: 'none', valueName: 'p', description: "chat template's system prompt: none (replaces a template's own), default (what the template writes by itself), or the text to use" },
  thinking: { type: 'boolean', default: false, description: 'render with enable_thinking=true (for templates that read it)' },
  date: { type: 'string', valueName: 'YYYY-MM-DD', description: 'the date strftime_now gives templates that print today\'s date (default today)' },
} as const satisfies Options;

/** For the help of every option that takes prompts. */
export const PROMPTS_HELP = `
Prompts: a file (text, one per line; json; jsonl; csv) or a Hub dataset, read from parquet, json,
jsonl or csv and downloaded into the cache: hf:<owner>/<dataset>[:config][:split][:column], e.g.
hf:walledai/AdvBench or hf:JailbreakBench/JBB-Behaviors:behaviors:harmful:Goal.
`;

/** Help lines generated from the declarations that carry a description: flag, value name, description, default. */
export function optionsHelp(options: Options, width = 100): string {
  const rows = Object.entries(options)
    .filter(([, o]) => o.description)
    .map(([name, o]) => {
      const flag = `  --${name}${o.type === 'string' ? ` <${o.valueName ?? 'value'}>` : ''}`;
      const shown = o.default !== undefined && o.default !== false ? ` (default ${String(o.default)})` : '';
      return [flag, `${o.description}${shown}`] as const;
    });
  const indent = Math.min(28, Math.max(...rows.map(([f]) => f.length)) + 2);
  return rows
    .map(([flag, text]) => {
      const lines: string[] = [];
      // A flag too long for the column gets its description on the next line.
      let line = flag.length < indent ? flag.padEnd(indent) : `${flag}\n${' '.repeat(indent)}`;
      let used = indent;
      for (const word of text.split(' ')) {
        if (used + word.length + 1 > width && used > indent) {
          lines.push(line.trimEnd());
          line = ' '.repeat(indent);
          used = indent;
        }
        line += `${word} `;
        used += word.length + 1;
      }
      lines.push(line.trimEnd());
      return lines.join('\n');
    })
    .join('\n');
}

export const MODEL_HELP = optionsHelp(MODEL_OPTIONS);

/** The parsed values, typed from the declarations as util.parseArgs types them. */
export type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ options: O; strict: true; allowPositionals: false }>>;

/**
 * Parses `argv` against the declarations with commander: a string option takes the next token as
 * its value even when it starts with '-' (`--coefficient -1`, a prompt starting with '-'), unless
 * that token is itself a long option (then the value is missing); `--name=value` works too.
 * Unknown options are usage errors with commander's suggestion of the nearest known one.
 */
export function parse<O extends Options>(argv: string[], options: O): Parsed<O> {
  const program = new Command()
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} })
    .helpOption(false)
    .allowExcessArguments(false)
    .showSuggestionAfterError(true);
  let missing: string | undefined;
  const names = new Map<string, { attr: string; negated: boolean }>();
  for (const [name, o] of Object.entries(options)) {
    // Commander reads a boolean `--no-x` as x = false (default true); the commands declare the flag itself.
    const negated = o.type === 'boolean' && name.startsWith('no-');
    const opt = new Option(`${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ' <value>' : ''}`, o.description);
    if (o.type === 'string') {
      opt.argParser((value: string, previous: unknown) => {
        if (value.startsWith('--')) {
          missing = name;
          throw new InvalidArgumentError('');
        }
        return o.multiple ? [...((previous as string[] | undefined) ?? []), value] : value;
      });
    }
    if (o.default !== undefined && !negated) opt.default(o.default);
    program.addOption(opt);
    names.set(name, { attr: opt.attributeName(), negated });
  }
  try {
    program.parse(argv, { from: 'user' });
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    const flag = missing ?? /option '(?:-\w, )?--([\w-]+)/.exec(e.message)?.[1];
    if (e.code === 'commander.optionMissingArgument' || (e.code === 'commander.invalidArgument' && missing)) {
      throw new UsageError(`--${flag} needs a value (write --${flag}=<value> for one that starts with --)`);
    }
    throw new UsageError(e.message.replace(/^error: /, '').replace(/^unknown option/, 'Unknown option'));
  }
  const opts = program.opts();
  const values = Object.fromEntries(
    [...names].filter(([, { attr, negated }]) => negated || opts[attr] !== undefined).map(([name, { attr, negated }]) => [name, negated ? opts[attr] === false : opts[attr]]),
  );
  return { values, positionals: [] } as unknown as Parsed<O>;
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
