// The residual walk on graphs written by real exporters, read without their weights.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { checkStream, instrument } from '../../../src/engine/onnx/instrument';
import { readModel } from '../../../src/engine/onnx/proto';
import { findResidualStream } from '../../../src/engine/onnx/residual';
import { needsRealModels, REAL_MODELS } from '../../support/paths';

const real = (p: string) => path.join(REAL_MODELS, p);
const GEMMA_DTYPES = ['', '_fp16', '_q4', '_q4f16', '_quantized'];

describe('residual walk on real exporter graphs', needsRealModels(), () => {
  for (const suffix of GEMMA_DTYPES) {
    test(`gemma3-4b decoder_model_merged${suffix}: 2 × 34 updates, instrumentable`, () => {
      const model = readModel(real(`gemma3-4b-graph-only/decoder_model_merged${suffix}.onnx`));
      const stream = findResidualStream(model.graph!);
      assert.equal(stream.updates.length, 68);
      assert.equal(stream.embedFrom, 'inputs_embeds');
      // Gemma's sandwich norms: the writer is the post-norm output, not o_proj / down_proj.
      assert.match(stream.updates[0].writer, /post_attention_layernorm/);
      assert.match(stream.updates[1].writer, /post_feedforward_layernorm/);
      checkStream(stream, 34);
      const meta = instrument(model, 34, 2560);
      assert.equal(model.graph!.output!.filter((o) => o.name!.startsWith('resid.')).length, 69);
      if (suffix.includes('16')) assert.ok(meta.writerTypes.includes(10), 'fp16 writers detected');
    });
  }

  test('a wrong layer count names both numbers', () => {
    const stream = findResidualStream(readModel(real('gemma3-4b-graph-only/decoder_model_merged_q4.onnx')).graph!);
    assert.throws(() => checkStream(stream, 30), /found 68 residual updates but config.json declares 30 layers \(expected 60/);
  });

  test('qwen3.5 hybrid: the walk finds 2 × 24 updates through If subgraphs, the I/O is refused by name', () => {
    const model = readModel(real('qwen3_5-0.8b-int8-graph-only/decoder_model_merged_quantized.onnx'));
    assert.equal(findResidualStream(model.graph!).updates.length, 48);
    // The refusal names the state inputs found and what is unsupported.
    assert.throws(
      () => instrument(model, 24, 1024),
      /hybrid whose cache holds recurrent state besides the KV cache: 36 state inputs \('past_conv\.0', 'past_recurrent\.0', 'past_conv\.1', 'past_recurrent\.1', … \(32 more\)\) for 18 convolution or linear-attention layers \(0, 1, 2, 4, 5, 6, … \(12 more\)\).*Qwen3\.5 and LFM2.*only past_key_values\.\{i\}\.key\|value caches; decoders with past_conv\/past_recurrent state are not supported/,
    );
  });

  test('genai-llama-tiny-fp16: fused Skip norms, the final norm gains its residual output', () => {
    const model = readModel(real('genai-llama-tiny-fp16/onnx/model.onnx'));
    const stream = findResidualStream(model.graph!);
    assert.deepEqual(stream.ops, ['SkipSimplifiedLayerNormalization']);
    assert.equal(stream.updates.length, 4);
    assert.equal(stream.updates.at(-1)!.missingOutput3, true);
  });

  test('mobius static-cache graph is refused: no attention_mask, names what it found', () => {
    const model = readModel(real('mobius-llama-tiny-opset24/model.onnx'));
    assert.throws(() => instrument(model, 2, 64), /no attention_mask input.*found inputs \[input_ids, position_ids, key_cache\.0/);
  });

  test('legacy fused GPT-2 graph is refused: packed past_N caches', () => {
    const model = readModel(real('gpt2-tiny-fused/past.onnx'));
    assert.throws(() => instrument(model, 5, 32), /unsupported inputs 'past_0'/);
  });

  test('an instrumented graph cannot be instrumented again', () => {
    const model = readModel(real('gemma3-4b-graph-only/decoder_model_merged_q4.onnx'));
    instrument(model, 34, 2560);
    assert.throws(() => instrument(model, 34, 2560), /already has a 'steer_basis' input/);
  });
});
