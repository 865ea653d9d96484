// The safety space's refusal labels, selectable: the aligned model's refusal score (the default), or
// the base model's greedy first token being a refusal token, as Pan et al. label
// (safety-residual-space output_prediction_with_components.py: base_logits.argmax == the "unsafe" /
// "I" token). Each is recomputed here from the reference forward pass. On the organism the base
// never refuses, so with Pan et al.'s labels component accuracy is undefined, and the result says so.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { refusalScore } from '../../../src/engine/directions/metrics';
import { safetySpace } from '../../../src/engine/directions/space';
import { argmax } from '../../../src/engine/runtime/generate';
import { referenceForward } from '../../../src/modelgen/reference';
import type { DecoderWeights } from '../../../src/modelgen/weights';
import { loadOrganismV2, type LoadedOrganism } from '../../support/organismV2';

describe('safety space refusal labels (organism v2)', () => {
  let o: LoadedOrganism;
  let prompts: string[];
  before(async () => {
    o = await loadOrganismV2({ seed: 1, layers: 4, hidden: 64 });
    prompts = [...o.organism.prompts.harmful_train.slice(0, 8), ...o.organism.prompts.harmless_train.slice(0, 8), ...o.organism.prompts.jailbreak_test.slice(0, 4)];
  });
  after(() => o?.dispose());

  const lastLogits = (w: DecoderWeights, p: string) => {
    const ids = o.aligned.tokenizer.encode(p, { chat: true }).ids;
    const V = o.organism.config.vocabSize;
    return referenceForward(o.organism.config, w, ids).logits.subarray((ids.length - 1) * V, ids.length * V);
  };
  const refusalIds = () => o.aligned.tokenizer.refusalIds;
  const byScore = (w: DecoderWeights) => prompts.filter((p) => refusalScore(lastLogits(w, p), refusalIds()) > 0).length / prompts.length;
  const byFirstToken = (w: DecoderWeights) => prompts.filter((p) => refusalIds().includes(argmax(lastLogits(w, p)))).length / prompts.length;
  const options = { components: 2, interactionPrompts: 1 };

  test("default: the aligned model's refusal score, recorded as such", async () => {
    const r = await safetySpace(o.aligned, o.base, { prompts, ...options });
    assert.equal(r.labels.source, 'aligned-score');
    assert.match(r.labels.rule, /aligned model's refusal score/);
    assert.equal(r.refusedFraction, byScore(o.organism.aligned));
    assert.ok(r.refusedFraction > 0 && r.refusedFraction < 1 && !r.labels.note);
    assert.ok(r.layers.some((l) => l.accuracy.every(Number.isFinite)));
  });

  test("Pan et al.'s labels: the organism's base never refuses, so accuracy is undefined and the result says why", async () => {
    const r = await safetySpace(o.aligned, o.base, { prompts, ...options, labels: 'base-first-token' });
    assert.equal(r.labels.source, 'base-first-token');
    assert.equal(byFirstToken(o.organism.base), 0);
    assert.equal(r.refusedFraction, 0);
    assert.match(r.labels.note!, /^the base model refuses none of the 20 prompts by this rule: component accuracy and the probe are undefined$/);
    for (const l of r.layers) assert.ok(l.accuracy.every(Number.isNaN) && Number.isNaN(l.probe) && (l.accuracyBase ?? []).every(Number.isNaN), `layer ${l.layer}`);
  });

  test('the two sources label from different models: with the roles swapped (the refusing model as base) they disagree', async () => {
    // "aligned" = the organism's base (never refuses), "base" = the organism's aligned model.
    const first = await safetySpace(o.base, o.aligned, { prompts, ...options, labels: 'base-first-token' });
    const score = await safetySpace(o.base, o.aligned, { prompts, ...options, labels: 'aligned-score' });
    const want = byFirstToken(o.organism.aligned);
    assert.ok(want > 0 && want < 1);
    assert.equal(first.refusedFraction, want);
    assert.equal(score.refusedFraction, byScore(o.organism.base));
    assert.equal(score.refusedFraction, 0);
    assert.match(score.labels.note!, /^the aligned model refuses none/);
    assert.ok(first.layers.some((l) => l.accuracy.every(Number.isFinite)));
  });

  test("labels from the base model's first token need a base model", async () => {
    await assert.rejects(safetySpace(o.aligned, undefined, { prompts, harmless: prompts.slice(8, 16), ...options, labels: 'base-first-token' }), /labels from the base model's first token need a base model \(two-model mode\)/);
  });
});
