// The planted organism (v2) written in the split layout (embed_tokens + decoder_model_merged taking
// inputs_embeds, config under text_config) and in the single-graph layout, from the same weights:
// through the real engine, each split model passes doctor and extracts exactly the direction the
// single graph extracts; an exported (abliterated) split model carries the direction out of its
// embedding graph too and computes what ablation computes.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { exportAbliterated } from '../../../src/engine/directions/export';
import { extractRefusalDirection, ExtractResult } from '../../../src/engine/directions/extract';
import { promptSet, splitTrainVal } from '../../../src/engine/directions/prompts';
import { Engine } from '../../../src/engine/engine';
import { int64, toFloat32 } from '../../../src/engine/runtime/tensors';
import type { FixtureDtype, FixtureLayout } from '../../../src/modelgen';
import { buildOrganismV2, OrganismV2 } from '../../../src/modelgen/organism2';
import { makeWordTokenizer } from '../../../src/modelgen/tokenizer';
import { writeModel } from '../../../src/modelgen/write';
import { maxAbs, maxAbsDiff } from '../../support/fixtures';
import { tempDir } from '../../support/paths';

// Deep enough that paper A's selection finds the planted direction before the pruned last layers.
const ORGANISM = { seed: 1, layers: 8, hidden: 64, safetyLayer: 3 };

function write(o: OrganismV2, dir: string, style: 'torch' | 'genai', dtype: FixtureDtype, layout: FixtureLayout): string {
  writeModel(dir, { config: o.config, weights: o.aligned, tokenizer: makeWordTokenizer(o.vocab), style, dtype, layout, eosId: o.vocab.indexOf('<|im_end|>'), padId: o.vocab.indexOf('<|endoftext|>') });
  return dir;
}

const extract = (engine: Engine, o: OrganismV2) =>
  extractRefusalDirection(engine, { harmful: splitTrainVal(promptSet('harmful', o.prompts.harmful_train)), harmless: splitTrainVal(promptSet('harmless', o.prompts.harmless_train)) });

const o = buildOrganismV2(ORGANISM);

for (const style of ['torch', 'genai'] as const) {
  for (const dtype of ['fp32', 'fp16', 'q8', 'q4'] as const) {
    describe(`organism v2 in the split layout, ${style} ${dtype}`, () => {
      const root = tempDir(`split-organism-${style}-${dtype}`);
      const cacheDir = path.join(root, 'cache');
      let split: Engine;
      let single: Engine;
      before(async () => {
        const load = (layout: FixtureLayout) => Engine.load({ model: write(o, path.join(root, layout), style, dtype, layout), dtype, cacheDir, allowRemote: false });
        split = await load('split');
        single = await load('single');
      });
      after(async () => {
        await split?.dispose();
        await single?.dispose();
      });

      test('loads as the split layout and passes doctor (logits against the plain pair of graphs)', async () => {
        assert.equal(split.info.layout, 'split');
        assert.equal(path.basename(split.info.embedFile!), path.basename(split.info.onnxFile).replace('decoder_model_merged', 'embed_tokens'));
        const r = await split.doctor({});
        assert.ok(r.ok, JSON.stringify(r));
        assert.equal(r.layout, 'split');
        assert.deepEqual(r.graphs, [split.info.embedFile, split.info.onnxFile]);
      });

      test('extracts the same direction as the single graph of the same weights', async () => {
        const [a, b]: ExtractResult[] = [await extract(split, o), await extract(single, o)];
        assert.ok(b.selected, b.report);
        assert.deepEqual(a.counts, b.counts);
        assert.deepEqual([a.selected?.layer, a.selected?.position], [b.selected.layer, b.selected.position]);
        assert.deepEqual(a.candidates.map((c) => c.filtered ?? ''), b.candidates.map((c) => c.filtered ?? ''));
        // fp16: the exposed float copy of resid.0 may be rounded differently (see splitLayout.test.ts).
        const rel = dtype === 'fp16' ? 2 ** -10 : 1e-6;
        assert.ok(maxAbsDiff(a.vector!, b.vector!) <= rel * maxAbs(b.vector!), `${maxAbsDiff(a.vector!, b.vector!)}`);
        for (const [i, c] of b.candidates.entries()) {
          for (const k of ['bypass', 'induce', 'kl'] as const) {
            if (Number.isFinite(c[k])) assert.ok(Math.abs(a.candidates[i][k] - c[k]) <= 1e-3 * Math.max(1, Math.abs(c[k])), `${k} of layer ${c.layer} position ${c.position}`);
          }
        }
      });
    });
  }
}

for (const [style, dtype] of [['torch', 'fp32'], ['genai', 'fp16'], ['torch', 'q8']] as const) {
  test(`export of an abliterated split model (${style} ${dtype}): both graphs carry the ablation, the folder loads and runs as ablation does`, async () => {
    const root = tempDir(`split-export-${style}-${dtype}`);
    const cacheDir = path.join(root, 'cache');
    const load = (model: string) => Engine.load({ model, dtype, cacheDir, allowRemote: false });
    const engine = await load(write(o, path.join(root, 'split'), style, dtype, 'split'));
    const out = path.join(root, 'abliterated');
    let exported: Engine | undefined;
    try {
      const r = await extract(engine, o);
      assert.ok(r.vector, r.report);
      const graph = await exportAbliterated(engine.info, [r.vector], out);
      assert.equal(graph, path.join(out, 'onnx', path.basename(engine.info.onnxFile)));
      assert.ok(existsSync(path.join(out, 'onnx', path.basename(engine.info.embedFile!))));
      exported = await load(out);
      assert.equal(exported.info.layout, 'split');
      assert.ok((await exported.doctor({})).ok);

      // The exported embedding graph writes nothing along the direction (its table orthogonalised).
      const ids = o.vocab.map((_, i) => i);
      const { session, output } = exported.decoder.embedder!;
      const embeds = toFloat32((await session.run({ input_ids: int64(ids, [1, ids.length]) }))[output]);
      const H = o.config.hidden;
      const n = Math.hypot(...r.vector);
      const along = (e: Float32Array) => Math.max(...ids.map((_, t) => Math.abs(r.vector!.reduce((s, x, h) => s + (x / n) * e[t * H + h], 0))));
      const original = toFloat32((await engine.decoder.embedder!.session.run({ input_ids: int64(ids, [1, ids.length]) }))[engine.decoder.embedder!.output]);
      assert.ok(along(original) > 0.1, `${along(original)}`);
      assert.ok(along(embeds) <= (dtype === 'fp16' ? 5e-3 : 1e-5) * maxAbs(original), `${along(embeds)}`);

      // The exported model computes what ablation everywhere computes on the original.
      const prompts = [...o.prompts.harmful_test.slice(0, 3), ...o.prompts.harmless_test.slice(0, 2)].map((prompt) => ({ prompt, chat: true }));
      const ablated = await engine.forward({ inputs: prompts, hooks: [], logits: 'last', steering: { ablate: [r.vector], positions: 'all' } });
      const plain = await exported.forward({ inputs: prompts, hooks: [], logits: 'last' });
      const tol = dtype === 'fp16' ? 0.02 : dtype === 'q8' ? 0.05 : 1e-4;
      ablated.items.forEach((a, i) => assert.ok(maxAbsDiff(a.logits!, plain.items[i].logits!) <= tol * Math.max(1, maxAbs(a.logits!)), `prompt ${i}: ${maxAbsDiff(a.logits!, plain.items[i].logits!)}`));
    } finally {
      await exported?.dispose();
      await engine.dispose();
    }
  });
}
