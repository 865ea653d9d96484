// SentencePiece chat families end to end (support/familyCli.ts): Gemma-3, Llama-2-chat and Mistral v0.2 on Mistral's vocabulary; and a Gemma-3 config one row short of its tokenizer.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { FAMILIES, familyTokenizer } from '../support/chatFamilies';
import { cli, describeFamily, HIDDEN, json } from '../support/familyCli';
import { tempDir } from '../support/paths';

for (const f of FAMILIES.filter((x) => x.endToEnd && ['gemma3', 'llama2'].includes(x.pkg))) describeFamily(f);

describe('Gemma-3 with config.json\u2019s vocab_size one short of its tokenizer (262,144 vs 262,145)', () => {
  const f = FAMILIES.find((x) => x.name === 'Gemma-3')!;
  const model = path.join(tempDir('gemma-short'), 'model');

  test('a prompt holding <image_soft_token> is refused with the token and both sizes, no onnxruntime error or stack trace', () => {
    json(cli('fixture', '--out', model, '--tokenizer', familyTokenizer(f), '--layers', '2', '--hidden', String(HIDDEN), '--vocab-size', '262144', '--json'));
    for (const args of [['generate', '--prompt', 'what is <image_soft_token> here?'], ['doctor']]) {
      const r = cli(...args.slice(0, 1), '--model', model, ...args.slice(1));
      if (args[0] === 'doctor') {
        assert.equal(r.code, 0, r.stderr);
        continue;
      }
      assert.equal(r.code, 1);
      assert.match(r.stderr, /the prompt holds token "<image_soft_token>" \(id 262144\), outside the model's embedding: config.json's vocab_size is 262144, the tokenizer has 262145 entries/);
      assert.doesNotMatch(r.stderr, /Gather|onnxruntime|\n\s+at /);
    }
  });
});
