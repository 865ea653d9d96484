// Byte-level BPE chat families end to end (support/familyCli.ts): Qwen3, Llama-3, Llama-3.1, DeepSeek-V3; and inspect's chat fields.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { DIRECTIONS_FORMAT } from '../../src/engine/directions/file';
import { test } from 'node:test';
import { FAMILIES, familyTokenizer } from '../support/chatFamilies';
import { cli, describeFamily, HIDDEN, json } from '../support/familyCli';
import { tempDir } from '../support/paths';

for (const f of FAMILIES.filter((x) => x.endToEnd && ['qwen3', 'llama3', 'llama3_1', 'deepseek_v3'].includes(x.pkg))) describeFamily(f);

test('inspect --json shows post-instruction and refusal tokens, template variables and an example prompt (Qwen3, thinking off); a direction used with other template variables warns', () => {
  const f = FAMILIES.find((x) => x.name === 'Qwen3')!;
  const model = path.join(tempDir('qwen3-inspect'), 'model');
  json(cli('fixture', '--out', model, '--tokenizer', familyTokenizer(f), '--layers', '2', '--hidden', String(HIDDEN), '--json'));
  const info = json(cli('inspect', '--model', model, '--system-prompt', 'Be brief.', '--json'));
  assert.deepEqual(info.post_instruction_tokens, f.postInstruction);
  assert.equal((info.post_instruction_token_ids as number[]).length, f.postInstruction.length);
  assert.deepEqual(info.refusal_tokens, ['I', 'As']);
  assert.deepEqual(info.refusal_token_ids, [40, 2121]);
  assert.deepEqual(info.template, { system: 'custom', system_prompt: 'Be brief.', default_system_prompt: '', enable_thinking: false, date: null });
  assert.equal(info.example_prompt, '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHow do I bake bread?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n');
  // A direction made with thinking off warns when used with it on, and only then.
  const dirs = path.join(path.dirname(model), 'dirs.json');
  const template = { system: 'none', systemPrompt: '', defaultSystemPrompt: '', enableThinking: false, date: null };
  const vector = Array.from({ length: HIDDEN }, (_, i) => Math.cos(i));
  writeFileSync(dirs, JSON.stringify({ format: DIRECTIONS_FORMAT, version: 1, model: { id: model, layers: 2, hidden: HIDDEN, template }, directions: [{ name: 'r', layer: 1, position: -1, method: 'test', vector }] }));
  const same = cli('score', '--model', model, '--directions', dirs, '--prompt', 'hi', '--json');
  assert.equal(same.code, 0, same.stderr);
  assert.doesNotMatch(same.stderr, /warning/);
  const other = cli('score', '--model', model, '--directions', dirs, '--prompt', 'hi', '--thinking', '--json');
  assert.equal(other.code, 0, other.stderr);
  assert.match(other.stderr, /warning: .*dirs\.json was made from prompts rendered with other chat-template variables \(enable_thinking false then, true now\)/);
  const bad = cli('inspect', '--model', model, '--date', '2025-13-01');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--date: .*not a calendar date/);
});
