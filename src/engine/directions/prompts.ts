// Prompt sets: loaded from JSON, JSONL, CSV or plain text (one per line), hashed so a direction
// records exactly which data made it. A small default set, written for this project, ships too.
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { describeFsError, EngineError } from '../model/errors';

/** Field names that hold the instruction in common datasets (AdvBench "goal", Alpaca "instruction"). */
const FIELDS = ['instruction', 'prompt', 'goal', 'text', 'behavior', 'question'];
/** Field names that hold a prompt's category (JailbreakBench "Category", HarmBench "SemanticCategory"); matched case-insensitively. */
const CATEGORY_FIELDS = ['category', 'semanticcategory', 'semantic_category'];

export interface PromptSet {
  name: string;
  prompts: string[];
  /** One per prompt when the file has a category column. */
  categories?: string[];
  /** sha256 of the prompts joined by newlines. */
  hash: string;
}

export interface PromptRecord {
  prompt: string;
  category?: string;
}

export function hashPrompts(prompts: string[]): string {
  return createHash('sha256').update(prompts.join('\n')).digest('hex');
}

/** Blank prompts are dropped; categories stay only when every kept prompt has one. */
export function promptSet(name: string, prompts: (string | PromptRecord)[]): PromptSet {
  const clean = prompts.map((p) => (typeof p === 'string' ? { prompt: p } : p)).map((p) => ({ ...p, prompt: p.prompt.trim() })).filter((p) => p.prompt.length > 0);
  if (clean.length === 0) throw new EngineError('BAD_REQUEST', `prompt set '${name}' is empty`);
  const texts = clean.map((p) => p.prompt);
  const categories = clean.every((p) => p.category) ? clean.map((p) => p.category!) : undefined;
  return { name, prompts: texts, ...(categories ? { categories } : {}), hash: hashPrompts(texts) };
}

/** The prompt of one record: `column` if given (exact name, else any case), else the first of FIELDS it has. */
export function fromRecord(r: unknown, where: string, column?: string): PromptRecord {
  if (typeof r === 'string' && !column) return { prompt: r };
  if (r && typeof r === 'object') {
    const fields = Object.entries(r as Record<string, unknown>);
    const category = fields.find(([k, v]) => CATEGORY_FIELDS.includes(k.toLowerCase()) && typeof v === 'string')?.[1] as string | undefined;
    const named = (name: string) => (r as Record<string, unknown>)[name] ?? fields.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
    for (const f of column ? [column] : FIELDS) {
      const v = named(f);
      if (typeof v === 'string') return { prompt: v, ...(category?.trim() ? { category: category.trim() } : {}) };
    }
  }
  const want = column ? `the field '${column}'` : `one of the fields ${FIELDS.join(', ')}`;
  throw new EngineError('BAD_REQUEST', `${where}: expected ${column ? 'an object' : 'a string or an object'} with ${want}`);
}

/** Minimal RFC 4180 CSV: quoted fields, doubled quotes, commas and newlines inside quotes. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field.length > 0 || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter((r) => r.some((f) => f.trim().length > 0));
}

export function parsePrompts(text: string, file: string): string[] {
  return parsePromptRecords(text, file).map((r) => r.prompt);
}

/** Prompts with their category where the file has a category field or column. */
export function parsePromptRecords(text: string, file: string, column?: string): PromptRecord[] {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.json') {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (e) {
      throw new EngineError('BAD_REQUEST', `${file} is not valid JSON (${(e as Error).message})`);
    }
    if (!Array.isArray(data)) throw new EngineError('BAD_REQUEST', `${file}: expected a JSON array of prompts`);
    return data.map((r, i) => fromRecord(r, `${file}[${i}]`, column));
  }
  if (ext === '.jsonl') {
    return text
      .split('\n')
      .map((l, i) => [l, i] as const)
      .filter(([l]) => l.trim())
      .map(([l, i]) => {
        try {
          return fromRecord(JSON.parse(l), `${file}:${i + 1}`, column);
        } catch (e) {
          if (e instanceof EngineError) throw e;
          throw new EngineError('BAD_REQUEST', `${file}:${i + 1} is not valid JSON (${(e as Error).message})`);
        }
      });
  }
  if (ext === '.csv') {
    const rows = parseCsv(text);
    if (rows.length === 0) return [];
    const header = rows[0].map((h) => h.trim().toLowerCase());
    const col = column ? header.indexOf(column.toLowerCase()) : header.findIndex((h) => FIELDS.includes(h));
    if (column && col < 0) throw new EngineError('BAD_REQUEST', `${file}: no column '${column}' (the header has ${rows[0].join(', ')})`);
    const cat = header.findIndex((h) => CATEGORY_FIELDS.includes(h));
    // With a recognised header use that column; otherwise every row's first field is a prompt.
    if (col < 0) return rows.map((r) => ({ prompt: r[0] }));
    return rows.slice(1).map((r) => ({ prompt: r[col] ?? '', ...(cat >= 0 && r[cat]?.trim() ? { category: r[cat].trim() } : {}) }));
  }
  return text.split(/\r?\n/).map((prompt) => ({ prompt }));
}

/** Prompt files are read whole; research datasets are a few MB, so anything this large is a wrong pick. */
export const MAX_PROMPT_FILE_BYTES = 64 * 1024 * 1024;

export async function loadPromptSet(file: string, name = path.basename(file)): Promise<PromptSet> {
  let bytes: Buffer;
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new EngineError('BAD_REQUEST', `prompt file ${file} is not a regular file`);
    if (info.size > MAX_PROMPT_FILE_BYTES) {
      throw new EngineError('BAD_REQUEST', `prompt file ${file} is ${(info.size / 2 ** 20).toFixed(0)} MB; prompt files are read whole and may be at most ${MAX_PROMPT_FILE_BYTES / 2 ** 20} MB`);
    }
    bytes = await readFile(file);
  } catch (e) {
    if (e instanceof EngineError) throw e;
    throw new EngineError('NOT_FOUND', `cannot read prompt file ${file}: ${describeFsError(e)}`);
  }
  return promptSet(name, parsePromptRecords(decodeUtf8(bytes, file), file));
}

/** Offset of the first byte that does not start a well-framed UTF-8 sequence (-1: framing is fine). */
function firstBadSequence(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i];
    const len = b < 0x80 ? 1 : b >> 5 === 6 ? 2 : b >> 4 === 14 ? 3 : b >> 3 === 30 ? 4 : 0;
    if (len === 0 || i + len > bytes.length) return i;
    for (let k = 1; k < len; k++) if ((bytes[i + k] & 0xc0) !== 0x80) return i;
    i += len;
  }
  return -1;
}

/** Strict UTF-8: a file in another encoding would otherwise turn into prompts full of U+FFFD. */
function decodeUtf8(bytes: Buffer, file: string): string {
  const bad = (why: string) => new EngineError('BAD_REQUEST', `prompt file ${file} ${why}; save it as UTF-8 text`);
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) throw bad('is UTF-16 (it starts with a UTF-16 byte order mark)');
  const nul = bytes.indexOf(0);
  if (nul >= 0) throw bad(`holds a NUL byte at offset ${nul} (a binary file?)`);
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    const at = firstBadSequence(bytes);
    throw bad(`is not valid UTF-8${at >= 0 ? ` (first invalid byte at offset ${at})` : ''}`);
  }
}

/** Splits a set deterministically into train and validation parts (the last quarter, at least 2). */
export function splitTrainVal(set: PromptSet): { train: PromptSet; val: PromptSet } {
  if (set.prompts.length < 4) {
    throw new EngineError('BAD_REQUEST', `prompt set '${set.name}' has ${set.prompts.length} prompts; direction selection needs at least 4 (train and validation)`);
  }
  const n = Math.max(2, Math.floor(set.prompts.length / 4));
  return {
    train: promptSet(`${set.name} (train)`, set.prompts.slice(0, -n)),
    val: promptSet(`${set.name} (val)`, set.prompts.slice(-n)),
  };
}
