// Prompt sets by Hub id: `hf:<owner>/<dataset>[:config][:split][:column]` (e.g.
// hf:walledai/AdvBench, hf:JailbreakBench/JBB-Behaviors:behaviors:harmful:Goal,
// hf:tatsu-lab/alpaca:default:train:instruction), downloaded by the model downloader and read from
// parquet (hyparquet), json, jsonl or csv. Which files hold a config and split follows the Hub's
// conventions for data files: `<config>/…` folders, and a split named by the file or its folder
// (`train-00000-of-00001.parquet`, `data/harmful-behaviors.csv`, `test/0000.parquet`).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parquetReadObjects } from 'hyparquet';
import { downloadHubDataset, type DownloadOptions } from '../model/hub';
import { EngineError } from '../model/errors';
import { HUB_ID } from '../../protocol';
import { fromRecord, loadPromptSet, MAX_PROMPT_FILE_BYTES, parsePromptRecords, promptSet, type PromptRecord, type PromptSet } from './prompts';

export interface DatasetSpec {
  id: string;
  config?: string;
  split?: string;
  column?: string;
}

const DATA_FILE = /\.(parquet|jsonl|json|csv)$/i;

/** The parts of an `hf:` prompt source, or undefined for a file path. Empty parts mean "not given". */
export function parseDatasetSpec(source: string): DatasetSpec | undefined {
  if (!source.startsWith('hf:')) return undefined;
  const [id, config, split, column, ...rest] = source.slice(3).split(':');
  if (!HUB_ID.test(id ?? '') || rest.length) {
    throw new EngineError('BAD_REQUEST', `'${source}' is not a Hub dataset reference; write hf:<owner>/<dataset>[:config][:split][:column], e.g. hf:walledai/AdvBench or hf:JailbreakBench/JBB-Behaviors:behaviors:harmful:Goal`);
  }
  return { id, ...(config ? { config } : {}), ...(split ? { split } : {}), ...(column ? { column } : {}) };
}

/** Does a data file belong to `split`? Its folder is named so, or its name starts with it (`train-0000…`, `harmful-behaviors.csv`). */
const inSplit = (file: string, split: string) => {
  const parts = file.toLowerCase().split('/');
  const s = split.toLowerCase();
  return parts.slice(0, -1).includes(s) || new RegExp(`^${s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}([-_.]|$)`).test(parts.at(-1)!);
};

/** The data files of a config and split; without a split, 'train' where the repository has one, else every data file. */
export function pickDataFiles(files: string[], spec: DatasetSpec): string[] {
  const data = files.filter((f) => DATA_FILE.test(f));
  // A config is a top-level folder; where none is named so (configs declared in the README), all data files.
  const inConfig = spec.config && spec.config !== 'default' ? data.filter((f) => f.split('/')[0] === spec.config) : [];
  const pool = inConfig.length ? inConfig : data;
  const split = spec.split ?? (pool.some((f) => inSplit(f, 'train')) ? 'train' : undefined);
  const chosen = split ? pool.filter((f) => inSplit(f, split)) : pool;
  if (chosen.length === 0) {
    throw new EngineError('NOT_FOUND', `the dataset ${spec.id} has no data files${spec.config ? ` for config '${spec.config}'` : ''}${split ? ` in split '${split}'` : ''}; its data files: ${data.slice(0, 20).join(', ') || 'none'}`);
  }
  // Parquet shards and their json/csv twins hold the same rows: one format only, parquet first.
  const format = ['parquet', 'jsonl', 'json', 'csv'].find((x) => chosen.some((f) => f.toLowerCase().endsWith(`.${x}`)))!;
  return chosen.filter((f) => f.toLowerCase().endsWith(`.${format}`)).sort();
}

async function readRecords(file: string, label: string, column?: string): Promise<PromptRecord[]> {
  const bytes = await readFile(file);
  if (bytes.length > MAX_PROMPT_FILE_BYTES) throw new EngineError('BAD_REQUEST', `${label} is ${(bytes.length / 2 ** 20).toFixed(0)} MB; prompt files may be at most ${MAX_PROMPT_FILE_BYTES / 2 ** 20} MB`);
  if (!file.toLowerCase().endsWith('.parquet')) return parsePromptRecords(bytes.toString('utf8'), file, column);
  let rows: Record<string, unknown>[];
  try {
    rows = await parquetReadObjects({ file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer });
  } catch (e) {
    throw new EngineError('BAD_REQUEST', `${label} is not a readable parquet file (${(e as Error).message})`);
  }
  return rows.map((r, i) => fromRecord(r, `${label} row ${i}`, column));
}

/** A Hub dataset's prompts (and categories, where it has a category column). */
export async function loadHubPromptSet(spec: DatasetSpec, opts: DownloadOptions): Promise<PromptSet> {
  const files = await downloadHubDataset(spec.id, (all) => pickDataFiles(all, spec), opts);
  const records: PromptRecord[] = [];
  for (const f of files) records.push(...(await readRecords(f, `${spec.id}/${path.basename(f)}`, spec.column)));
  return promptSet(`hf:${spec.id}${spec.split ? `:${spec.split}` : ''}`, records);
}

/** A prompt file, or a Hub dataset for an `hf:` source. */
export async function loadPrompts(source: string, opts: DownloadOptions): Promise<PromptSet> {
  const spec = parseDatasetSpec(source);
  return spec ? loadHubPromptSet(spec, opts) : loadPromptSet(source);
}
