// Pan et al.'s component interventions (intervene.ts), as their hooks apply them: remove = project the
// components' span out of every writer at the last token and each generated one; subtract = h − α·ĉ
// at the output of each listed layer (the residual entering the next), ĉ the unit component. The
// steering each mode builds is checked entry by entry, then trigger removal on the organism.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { intervene, interventionSteering } from '../../../src/engine/directions/intervene';
import { occlusionTriggers, unit } from '../../../src/engine/directions/score';
import { steeringTensors } from '../../../src/engine/runtime/steering';
import { loadOrganismV2, type LoadedOrganism } from '../../support/organismV2';

test("subtract mode: −α·ĉ (unit) added at each listed layer's output, the last position only; remove mode: the span, the last position only", () => {
  const H = 4;
  const L = 4;
  const c = [3, 0, 4, 0]; // norm 5
  const s = steeringTensors(interventionSteering([c], H, L, 2, [0, 2]), L, H);
  assert.equal(s.positions, 'last');
  // Writer 2(j+1) produces the residual after layer j (resid_pre of layer j+1).
  const row = (k: number) => Array.from(s.add.subarray(k * H, (k + 1) * H));
  for (let k = 0; k <= 2 * L; k++) {
    const want = k === 2 || k === 6 ? [-1.2, 0, -1.6, 0] : [0, 0, 0, 0];
    row(k).forEach((x, h) => assert.ok(Math.abs(x - want[h]) < 1e-6, `writer ${k}: ${row(k)}`));
  }
  const remove = interventionSteering([c], H, L);
  assert.deepEqual(remove, { ablate: [c], positions: 'last' });
  const t = steeringTensors(remove, L, H);
  assert.deepEqual(Array.from(t.basis), [0.6, 0, 0.8, 0].map(Math.fround));
  assert.ok(!t.add.some((x) => x !== 0));
});

describe('trigger removal on organism v2', () => {
  let o: LoadedOrganism;
  before(async () => {
    o = await loadOrganismV2({ seed: 1, layers: 4, hidden: 64 });
  });
  after(() => o?.dispose());

  test("each prompt's top occlusion tokens for the component are the ones removed, and refusal stops without them", async () => {
    const prompts = o.organism.prompts.harmful_test.slice(0, 6);
    const layer = o.gt.writtenAt.refusalComplete + 1;
    const vector = o.gt.directions.refusal;
    const r = await intervene(o.aligned, prompts, { components: [vector], alpha: 0, layers: [0], maxNewTokens: 6, triggers: { vector, layer, top: 1 } });
    for (const [i, row] of r.results.entries()) {
      const ids = o.aligned.tokenizer.encode(prompts[i], { chat: true }).ids;
      const ranked = await occlusionTriggers(o.aligned, ids, unit(vector), layer);
      assert.deepEqual(row.trigger_removed!.removed, [ranked[0].token], prompts[i]);
      assert.ok(o.gt.triggers.includes(ranked[0].token.trim()), `${prompts[i]}: ${ranked[0].token}`);
    }
    assert.equal(r.refusal_rate.baseline, 1);
    assert.equal(r.refusal_rate.trigger_removed, 0);
  });
});
