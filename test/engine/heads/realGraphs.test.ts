// Per-head attribution on graphs real exporters wrote (../shared/real-models): the onnxruntime-genai
// builder's Llama (fp16, MultiHeadAttention after RotaryEmbedding nodes, weights in external data),
// and Gemma 3's structure (a post-attention RMS norm between o_proj and the residual) in every dtype.
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

test("Gemma 3's graphs (post-attention RMS norm after o_proj, GroupQueryAttention with a sliding window): every dtype's heads graph is found", needsRealModels(), () => {
  for (const [file, kind] of [['decoder_model_merged.onnx', 'matmul'], ['decoder_model_merged_fp16.onnx', 'matmul'], ['decoder_model_merged_q4.onnx', 'nbits'], ['decoder_model_merged_quantized.onnx', 'nbits']]) {
    const meta = instrument(readModel(path.join(REAL_MODELS, 'gemma3-4b-graph-only', file)), 34, 2560, { heads: 8 });
    assert.equal(meta.heads!.length, 34, file);
    const l0 = meta.heads![0];
    assert.equal(l0.projection.kind, kind, file);
    assert.match(l0.postNorm!.gamma, /layers\.0\.post_attention_layernorm/);
    assert.ok(l0.pattern.kind === 'fused' && l0.pattern.heads === 8 && l0.pattern.kvHeads === 4 && l0.pattern.window === 1024 && !!l0.pattern.rotary, `${file}: ${JSON.stringify(l0.pattern)}`);
  }
});
