// Chat templates are programs that come with the model. They run in @huggingface/jinja's
// interpreter, which reaches no JavaScript object or function beyond the values it is given (no
// attribute walk to constructors or globals). One limit is added, the one Python jinja2's sandbox
// has: range() of at most MAX_RANGE items. The library's range builds its whole list, and a huge one
// aborts the process (a V8 fatal error, not an exception). Templates that loop or allocate without
// range can still exhaust the engine process; that process is not the extension host, which reports
// its crash or hang (see SECURITY.md).
import { Template } from '@huggingface/jinja';
import { strftime, todayUtc } from './strftime';

export const MAX_RANGE = 100_000;
/** Not a Jinja identifier: no template can name, shadow or reassign it. */
const BOUNDED_RANGE = 'range()';
/**
 * Where templates' strftime_now calls go (the interpreter's own global cannot be overridden per
 * render): renderings pass the clock for the date they are pinned to under this name.
 */
export const PINNED_CLOCK = 'strftime_now()';

function boundedRange(...args: unknown[]): number[] {
  if (args.length < 1 || args.length > 3 || !args.every((a) => Number.isInteger(a))) {
    throw new Error(`range() takes one to three integers, got (${args.map(String).join(', ')})`);
  }
  const [start, stop, step = 1] = (args.length === 1 ? [0, args[0]] : args) as number[];
  if (step === 0) throw new Error('range() step must not be zero');
  const n = Math.max(0, Math.ceil((stop - start) / step));
  if (n > MAX_RANGE) throw new Error(`range() of ${n} items is refused: chat templates may iterate over at most ${MAX_RANGE} (the limit of Python jinja2's sandbox)`);
  return Array.from({ length: n }, (_, i) => start + i * step);
}

/** Renames every reference to the variable `from`; attribute names (x.range) and keyword names (f(range=1)) stay. */
function renameVariable(node: unknown, from: string, to: string): void {
  if (Array.isArray(node)) return node.forEach((n) => renameVariable(n, from, to));
  if (node instanceof Map) {
    for (const [k, v] of node) [k, v].forEach((n) => renameVariable(n, from, to));
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  const n = node as Record<string, unknown>;
  if (n.type === 'Identifier' && n.value === from) n.value = to;
  for (const [key, value] of Object.entries(n)) {
    const name = (n.type === 'MemberExpression' && key === 'property' && !n.computed) || (n.type === 'KeywordArgumentExpression' && key === 'key');
    if (!name) renameVariable(value, from, to);
  }
}

/** A template rendered without a pinned date sees today's (UTC). */
function unpinnedClock(format: unknown): string {
  return strftime(todayUtc(), String(format));
}

export interface CompiledTemplate {
  render(items: Record<string, unknown>): string;
}

/** Parses a template (throws on a syntax error) into one whose range() is bounded. */
export function sandboxedTemplate(source: string): CompiledTemplate {
  const template = new Template(source);
  renameVariable(template.parsed, 'range', BOUNDED_RANGE);
  renameVariable(template.parsed, 'strftime_now', PINNED_CLOCK);
  return { render: (items) => template.render({ [PINNED_CLOCK]: unpinnedClock, ...items, [BOUNDED_RANGE]: boundedRange }) };
}
