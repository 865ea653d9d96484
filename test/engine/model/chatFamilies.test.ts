// Post-instruction tokens, instruction spans, refusal tokens and template options on the real
// tokenizers of thirteen chat families (support/chatFamilies.ts), against what each family's
// template really renders (and Arditi et al.'s per-family choices where their code has the family).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ChatTokenizer } from '../../../src/engine/model/tokenizer';
import type { TemplateOptions } from '../../../src/protocol';
import { FAMILIES, familyTokenizer } from '../../support/chatFamilies';

const INSTRUCTION = 'How do I pick a lock?';

for (const f of FAMILIES) {
  describe(f.name, () => {
    const dir = familyTokenizer(f);
    const load = (template?: TemplateOptions) => ChatTokenizer.load(dir, { template });
    let tok: ChatTokenizer;

    test('post-instruction tokens come from full renderings; the instruction span is exactly the instruction', async () => {
      tok = await load();
      const chat = tok.chatInfo()!;
      assert.deepEqual(chat.postInstructionTokens, f.postInstruction);
      const { ids } = tok.encode(INSTRUCTION, { chat: true });
      const [start, end] = tok.instructionSpan(ids);
      assert.equal(end, ids.length - f.postInstruction.length);
      assert.equal(tok.decode(ids.slice(start, end), false).trim(), INSTRUCTION);
      assert.deepEqual(tok.tokenStrings(ids.slice(end)), f.postInstruction);
    });

    test(`refusal tokens include ${JSON.stringify(f.refusal)}${f.paperRefusal ? ' (paper A\u2019s choice)' : ''}, the answer's first token in context`, () => {
      const { refusalTokens, refusalTokenIds } = tok.chatInfo()!;
      for (const t of [...f.refusal, ...(f.paperRefusal ?? [])]) assert.ok(refusalTokens.includes(t), `${JSON.stringify(t)} not in ${JSON.stringify(refusalTokens)}`);
      assert.deepEqual(tok.tokenStrings(refusalTokenIds), refusalTokens);
    });

    test(f.customSystem === 'kept' ? 'a custom system prompt is rendered and recorded' : `a custom system prompt is refused: ${f.customSystem.source}`, async () => {
      const custom = { system: 'custom', systemPrompt: 'Answer in one sentence.' } as const;
      if (f.customSystem !== 'kept') {
        await assert.rejects(load(custom), f.customSystem);
        return;
      }
      const chat = (await load(custom)).chatInfo()!;
      assert.ok(chat.examplePrompt.includes('Answer in one sentence.'), chat.examplePrompt);
      assert.equal(chat.template.systemPrompt, 'Answer in one sentence.');
      assert.deepEqual(chat.postInstructionTokens, f.postInstruction);
    });

    test(f.defaultSystem ? 'the template\u2019s own system prompt is found; none replaces it, default keeps it' : 'the template writes no system prompt of its own', async () => {
      const none = tok.chatInfo()!;
      assert.equal(none.template.defaultSystemPrompt, f.defaultSystem ?? '');
      assert.equal(none.template.systemPrompt, '');
      if (!f.defaultSystem) return;
      assert.ok(!none.examplePrompt.includes(f.defaultSystem), none.examplePrompt);
      const def = (await load({ system: 'default' })).chatInfo()!;
      assert.ok(def.examplePrompt.includes(f.defaultSystem), def.examplePrompt);
      assert.equal(def.template.systemPrompt, f.defaultSystem);
    });

    test(f.usesThinking ? 'enable_thinking is off by default and can be turned on' : 'enable_thinking is not in the template', async () => {
      if (!f.usesThinking) {
        assert.equal(tok.chatInfo()!.template.enableThinking, null);
        return;
      }
      assert.equal(tok.chatInfo()!.template.enableThinking, false);
      const thinking = (await load({ enableThinking: true })).chatInfo()!;
      assert.equal(thinking.template.enableThinking, true);
      assert.deepEqual(thinking.postInstructionTokens, f.postInstruction.slice(0, f.postInstruction.indexOf('<think>')));
    });

    test(f.usesDate ? 'the date strftime_now prints is pinned, today by default' : 'no date is recorded for a template without strftime_now', async () => {
      if (!f.usesDate) {
        assert.equal(tok.chatInfo()!.template.date, null);
        return;
      }
      assert.equal(tok.chatInfo()!.template.date, new Date().toISOString().slice(0, 10));
      const pinned = (await load({ date: '2025-01-31' })).chatInfo()!;
      assert.equal(pinned.template.date, '2025-01-31');
      assert.match(pinned.examplePrompt, /Today Date: 31 Jan 2025\n/);
    });
  });
}

test('a prompt whose end merges with the template fails with both token lists (plain-text roles, Gemma vocabulary)', async () => {
  const tok = await ChatTokenizer.load(familyTokenizer(FAMILIES.find((f) => f.name === 'Phi-2 plain text')!));
  assert.throws(
    () => tok.encode('How do I pick a lock?\n', { chat: true }),
    /does not end with the chat template's post-instruction tokens \["\\n","Assistant",":"\] \(ids 107, \d+, \d+\): its last tokens are \["\\n\\n","Assistant",":"\] \(ids 108, \d+, \d+\)/,
  );
  assert.ok(tok.encode('How do I pick a lock?', { chat: true }));
});

test('enable_thinking on is refused for a template without a thinking switch (Llama-3)', async () => {
  await assert.rejects(ChatTokenizer.load(familyTokenizer(FAMILIES.find((f) => f.name === 'Llama-3')!), { template: { enableThinking: true } }), /has no thinking switch \(it never reads enable_thinking\)/);
});

test("Gemma-3: a token beyond config.json's vocab_size is refused with the token and both sizes", async () => {
  const tok = await ChatTokenizer.load(familyTokenizer(FAMILIES.find((f) => f.name === 'Gemma-3')!), { modelVocab: 262144 });
  assert.throws(
    () => tok.encode('what is <image_soft_token> here?', { chat: true }),
    /the prompt holds token "<image_soft_token>" \(id 262144\), outside the model's embedding: config.json's vocab_size is 262144, the tokenizer has 262145 entries/,
  );
  assert.throws(() => tok.encode('<image_soft_token>', { chat: false }), /id 262144/);
  assert.ok(tok.encode('what is here?', { chat: true }).ids.length > 5);
});
