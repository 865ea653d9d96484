// The safety space's component interactions (space.ts): the change of the projection on c_{l+1,k} per
// unit step against c_{l,j} in resid_pre(l) at the last position, minus the direct path c_j·c_k,
// averaged over the interaction prompts. Recomputed here with the TypeScript reference forward pass
// (the same step, taken at the last position only), entry by entry.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { safetySpace, type SpaceResult } from '../../../src/engine/directions/space';
import { referenceForward } from '../../../src/modelgen/reference';
import { loadOrganismV2, type LoadedOrganism } from '../../support/organismV2';

describe('component interactions against the reference forward pass (organism v2)', () => {
  let o: LoadedOrganism;
  let space: SpaceResult;
  let on: string[];
  before(async () => {
    o = await loadOrganismV2({ seed: 1, layers: 4, hidden: 64 });
    const p = o.organism.prompts;
    on = p.jailbreak_test.slice(0, 4);
    space = await safetySpace(o.aligned, o.base, { prompts: [...p.harmful_train.slice(0, 12), ...p.harmless_train.slice(0, 12), ...p.jailbreak_test.slice(0, 8)], components: 3, interactionOn: on, interactionPrompts: 4 });
  });
  after(() => o?.dispose());

  test('every entry equals the reference finite difference at the last position, minus the direct path', () => {
    const { hidden: H } = o.organism.config;
    const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, x, i) => s + x * b[i], 0);
    assert.ok(space.interactions.length >= 1);
    for (const link of space.interactions) {
      const from = space.layers.find((l) => l.layer === link.from)!;
      const to = space.layers.find((l) => l.layer === link.to)!;
      const want = from.components.map(() => to.components.map(() => 0));
      for (const prompt of on) {
        const ids = o.aligned.tokenizer.encode(prompt, { chat: true }).ids;
        const last = (x: Float32Array) => x.subarray((ids.length - 1) * H, ids.length * H);
        const base = referenceForward(o.organism.config, o.organism.aligned, ids).residuals;
        const h = last(base[2 * link.from]);
        const eps = 0.01 * Math.hypot(...h);
        for (const [j, cj] of from.components.entries()) {
          // The step enters resid_pre(from) through the writer that produces it, at the last position.
          const stepped = referenceForward(o.organism.config, o.organism.aligned, ids, (k, out) => {
            if (k !== 2 * link.from) return;
            for (let d = 0; d < H; d++) out[(ids.length - 1) * H + d] -= eps * cj[d];
          }).residuals;
          for (const [k, ck] of to.components.entries()) {
            want[j][k] += ((dot(last(base[2 * link.to]), ck) - dot(last(stepped[2 * link.to]), ck)) / eps - dot(cj, ck)) / on.length;
          }
        }
      }
      link.matrix.forEach((row, j) =>
        row.forEach((x, k) => assert.ok(Math.abs(x - want[j][k]) <= 0.02 + 0.02 * Math.abs(want[j][k]), `${link.from} → ${link.to}, [${j}][${k}]: ${x} vs reference ${want[j][k]}`)),
      );
    }
    // Not vacuous: some entries are far from zero.
    assert.ok(space.interactions.some((l) => l.matrix.flat().some((x) => Math.abs(x) >= 0.1)), JSON.stringify(space.interactions.map((l) => l.matrix)));
  });
});
