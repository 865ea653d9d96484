// Prompt sets: loaded from JSON, JSONL, CSV or plain text (one per line), hashed so a direction
// records exactly which data made it. A small default set, written for this project, ships too.
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { describeFsError, EngineError } from '../model/errors';

/** Field names that hold the instruction in common datasets (AdvBench "goal", Alpaca "instruction"). */
const FIELDS = ['instruction', 'prompt', 'goal', 'text', 'behavior', 'question'];

export interface PromptSet {
  name: string;
  prompts: string[];
  /** sha256 of the prompts joined by newlines. */
  hash: string;
}

export function hashPrompts(prompts: string[]): string {
  return createHash('sha256').update(prompts.join('\n')).digest('hex');
}

export function promptSet(name: string, prompts: string[]): PromptSet {
  const clean = prompts.map((p) => p.trim()).filter((p) => p.length > 0);
  if (clean.length === 0) throw new EngineError('BAD_REQUEST', `prompt set '${name}' is empty`);
  return { name, prompts: clean, hash: hashPrompts(clean) };
}

function fromRecord(r: unknown, where: string): string {
  if (typeof r === 'string') return r;
  if (r && typeof r === 'object') {
    for (const f of FIELDS) {
      const v = (r as Record<string, unknown>)[f];
      if (typeof v === 'string') return v;
    }
  }
  throw new EngineError('BAD_REQUEST', `${where}: expected a string or an object with one of the fields ${FIELDS.join(', ')}`);
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
  const ext = path.extname(file).toLowerCase();
  if (ext === '.json') {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (e) {
      throw new EngineError('BAD_REQUEST', `${file} is not valid JSON (${(e as Error).message})`);
    }
    if (!Array.isArray(data)) throw new EngineError('BAD_REQUEST', `${file}: expected a JSON array of prompts`);
    return data.map((r, i) => fromRecord(r, `${file}[${i}]`));
  }
  if (ext === '.jsonl') {
    return text
      .split('\n')
      .map((l, i) => [l, i] as const)
      .filter(([l]) => l.trim())
      .map(([l, i]) => {
        try {
          return fromRecord(JSON.parse(l), `${file}:${i + 1}`);
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
    const col = header.findIndex((h) => FIELDS.includes(h));
    // With a recognised header use that column; otherwise every row's first field is a prompt.
    return col >= 0 ? rows.slice(1).map((r) => r[col] ?? '') : rows.map((r) => r[0]);
  }
  return text.split(/\r?\n/);
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
  return promptSet(name, parsePrompts(decodeUtf8(bytes, file), file));
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
