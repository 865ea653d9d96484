// Per-head attribution on graphs real exporters wrote (../shared/real-models): the onnxruntime-genai
// builder's Llama (fp16, MultiHeadAttention after RotaryEmbedding nodes, weights in external data),
// and Gemma 3's structure, whose post-attention norm makes the attention writer nonlinear in the
// heads: refused with a message that says so.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { Engine } from '../../../src/engine/engine';
import { headsAnalysis } from '../../../src/engine/heads/heads';
import { instrument } from '../../../src/engine/onnx/instrument';
import { readModel } from '../../../src/engine/onnx/proto';
import { needsRealModels, REAL_MODELS, tempDir } from '../../support/paths';

test('genai builder Llama (fp16, MultiHeadAttention): heads + bias equal the writer, patterns are causal distributions', needsRealModels(), async () => {
  const engine = await Engine.load({ model: path.join(REAL_MODELS, 'genai-llama-tiny-fp16'), dtype: 'fp32', cacheDir: tempDir('heads-real'), allowRemote: false });
  try {
    const v = Array.from({ length: engine.info.hiddenSize }, (_, i) => Math.sin(i + 1));
    const r = await headsAnalysis(engine, 'hello there my friend', { vector: v, layer: 0 }, { position: -3 });
    assert.equal(r.heads.length, engine.info.layers * engine.config.heads);
    for (const l of r.layers) {
      assert.equal(l.pattern, 'com.microsoft.MultiHeadAttention (computed from q and k)');
      const heads = r.heads.filter((h) => h.layer === l.layer);
      const sum = heads.reduce((a, h) => a + h.contribution, 0) + l.bias;
      // fp16 activations: the writer's output is rounded to half precision (2^-11 relative per element).
      assert.ok(Math.abs(sum - l.writer) <= 1e-3 * Math.max(1e-2, Math.abs(l.writer)), `layer ${l.layer}: ${sum} vs ${l.writer}`);
      for (const h of heads) {
        assert.ok(Math.abs(h.attention.reduce((a, b) => a + b, 0) - 1) < 1e-4);
        assert.ok(h.attention.slice(r.position + 1).every((a) => a === 0));
      }
    }
  } finally {
    await engine.dispose();
  }
});

test("Gemma 3 (post-attention norm after o_proj): the heads graph is refused, naming the norm", needsRealModels(), () => {
  const model = readModel(path.join(REAL_MODELS, 'gemma3-4b-graph-only', 'decoder_model_merged_q4.onnx'));
  assert.throws(() => instrument(model, 34, 2560, { heads: 8 }), /layer 0: the attention writer '.*post_attention_layernorm.*' is produced by SimplifiedLayerNormalization .*not a linear projection .* per-head contributions cannot be read/);
});
