// config.json of a decoder model, validated into the few numbers the engine relies on. Values the
// graph also encodes (layers, hidden size, KV heads) are checked against the graph at load time.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { describeZodError } from '../../protocol';
import { EngineError } from './errors';

const positive = (max: number) => z.number().int().positive().max(max, { message: `must be at most ${max}` });
const ids = z.union([z.number().int(), z.array(z.number().int())]).nullish();

const TextConfig = z
  .object({
    model_type: z.string().optional(),
    num_hidden_layers: positive(1024),
    hidden_size: positive(65536),
    num_attention_heads: positive(1024),
    num_key_value_heads: positive(1024).optional(),
    head_dim: positive(4096).nullish(),
    vocab_size: positive(4_000_000),
    intermediate_size: positive(1_000_000).optional(),
    max_position_embeddings: positive(100_000_000).optional(),
    rms_norm_eps: z.number().positive().optional(),
    tie_word_embeddings: z.boolean().optional(),
    eos_token_id: ids,
    bos_token_id: ids,
    pad_token_id: ids,
  })
  .passthrough();

export interface DecoderConfigInfo {
  architecture: string;
  modelType: string;
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocabSize: number;
  tiedEmbeddings: boolean;
  /** The context length the model was trained for (max_position_embeddings), when config.json says. */
  maxPositions?: number;
  eosIds: number[];
  bosId?: number;
  padId?: number;
}

const asList = (v: number | number[] | null | undefined) => (v === null || v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** Validates a parsed config.json; `where` names the file in messages. */
export function parseDecoderConfig(raw: unknown, where = 'config.json'): DecoderConfigInfo {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new EngineError('MODEL_INVALID', `${where}: expected a JSON object`);
  }
  const top = raw as Record<string, unknown>;
  // Multimodal configs (Gemma 3, Qwen3.5, LLaVA) nest the language model's fields in text_config;
  // its values win over top-level ones, and a field missing from both is reported under text_config.
  const text = top.text_config;
  if (text !== undefined && (typeof text !== 'object' || text === null || Array.isArray(text))) {
    throw new EngineError('MODEL_INVALID', `${where}: text_config must be a JSON object (the language model's settings), it is ${JSON.stringify(text)}`);
  }
  const nested = text as Record<string, unknown> | undefined;
  const field = (k: string) => (nested && !(k in top && !(k in nested)) ? `text_config.${k}` : k);
  const parsed = TextConfig.safeParse(nested ? { ...top, ...nested } : top);
  if (!parsed.success) {
    const placed = parsed.error.issues.map((i) => (typeof i.path[0] === 'string' ? { ...i, path: [field(i.path[0]), ...i.path.slice(1)] } : i));
    throw new EngineError('MODEL_INVALID', `${where}: ${describeZodError(new z.ZodError(placed))}`);
  }
  const c = parsed.data;
  const heads = c.num_attention_heads;
  const kvHeads = c.num_key_value_heads ?? heads;
  if (heads % kvHeads !== 0) {
    throw new EngineError('MODEL_INVALID', `${where}: ${field('num_attention_heads')} (${heads}) must be a multiple of ${field('num_key_value_heads')} (${kvHeads})`);
  }
  const headDim = c.head_dim ?? c.hidden_size / heads;
  if (!Number.isInteger(headDim)) {
    throw new EngineError('MODEL_INVALID', `${where}: ${field('hidden_size')} (${c.hidden_size}) is not divisible by ${field('num_attention_heads')} (${heads}) and ${field('head_dim')} is not given`);
  }
  const architectures = Array.isArray(top.architectures) ? (top.architectures as unknown[]) : [];
  const modelType = c.model_type ?? (typeof top.model_type === 'string' ? top.model_type : 'unknown');
  return {
    architecture: typeof architectures[0] === 'string' ? architectures[0] : modelType,
    modelType,
    layers: c.num_hidden_layers,
    hidden: c.hidden_size,
    heads,
    kvHeads,
    headDim,
    vocabSize: c.vocab_size,
    tiedEmbeddings: c.tie_word_embeddings ?? false,
    ...(c.max_position_embeddings ? { maxPositions: c.max_position_embeddings } : {}),
    eosIds: asList(c.eos_token_id),
    bosId: asList(c.bos_token_id)[0],
    padId: asList(c.pad_token_id)[0],
  };
}

export async function readDecoderConfig(path: string): Promise<DecoderConfigInfo> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new EngineError('MODEL_INVALID', `config.json not found at ${path}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new EngineError('MODEL_INVALID', `${path} is not valid JSON (${(e as Error).message})`);
  }
  return parseDecoderConfig(raw, path);
}
