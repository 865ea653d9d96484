import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDecoderConfig } from '../../../src/engine/model/config';

const base = { model_type: 'llama', architectures: ['LlamaForCausalLM'], num_hidden_layers: 2, hidden_size: 16, num_attention_heads: 4, vocab_size: 100 };

test('defaults: kv heads = heads, head_dim = hidden / heads, eos as a list', () => {
  const c = parseDecoderConfig({ ...base, eos_token_id: [1, 2] });
  assert.deepEqual([c.kvHeads, c.headDim, c.eosIds, c.architecture], [4, 4, [1, 2], 'LlamaForCausalLM']);
});

test('text_config nesting (Gemma 3, Qwen3.5) is read', () => {
  const c = parseDecoderConfig({ architectures: ['Gemma3ForConditionalGeneration'], model_type: 'gemma3', text_config: { ...base, model_type: 'gemma3_text', num_hidden_layers: 34 } });
  assert.equal(c.layers, 34);
  assert.equal(c.modelType, 'gemma3_text');
});

test('each bad field gets a message naming it', () => {
  const bad = (patch: object, re: RegExp) => assert.throws(() => parseDecoderConfig({ ...base, ...patch }, 'cfg'), re);
  bad({ num_hidden_layers: 'abc' }, /cfg: num_hidden_layers: .*number/);
  bad({ hidden_size: 1_000_000 }, /hidden_size: must be at most 65536/);
  bad({ num_hidden_layers: 0 }, /num_hidden_layers/);
  bad({ num_key_value_heads: 3 }, /num_attention_heads \(4\) must be a multiple of num_key_value_heads \(3\)/);
  bad({ hidden_size: 18 }, /not divisible by num_attention_heads/);
  assert.throws(() => parseDecoderConfig([1, 2], 'cfg'), /cfg: expected a JSON object/);
});

test('text_config: a missing or bad field is named with its place in the file', () => {
  const { num_hidden_layers: _dropped, ...noLayers } = base;
  const nested = (text: object, top: object = {}) => () => parseDecoderConfig({ architectures: ['LlavaForConditionalGeneration'], model_type: 'llava', ...top, text_config: text }, 'm/config.json');
  assert.throws(nested(noLayers), /^EngineError: m\/config\.json: text_config\.num_hidden_layers: /);
  assert.throws(nested({ ...base, hidden_size: 'x' }), /m\/config\.json: text_config\.hidden_size: /);
  // A field only at the top level is read from there, and reported there.
  const { vocab_size: vocab, ...noVocab } = base;
  assert.equal(parseDecoderConfig({ vocab_size: vocab, text_config: noVocab }).vocabSize, 100);
  assert.throws(nested(noVocab, { vocab_size: -1 }), /m\/config\.json: vocab_size: /);
  assert.throws(nested({ ...base, num_key_value_heads: 3 }), /text_config\.num_attention_heads \(4\) must be a multiple of text_config\.num_key_value_heads \(3\)/);
  assert.throws(nested([1]), /text_config must be a JSON object/);
});
