// Paper A's candidate selection (andyrdt/refusal_direction, select_direction.py filter_fn and the
// sort after it): tables where the order and each filter decide the answer, the layer-pruning rule
// against the reference's int(n_layer * (1 - 0.2)), and the organism, where the harm-awareness
// candidates have the lowest bypass scores and only the induce filter keeps them out.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Candidate, extractRefusalDirection, type ExtractResult, filterRules, judgeCandidate, prunedFrom, selectCandidate } from '../../../src/engine/directions/extract';
import { promptSet, splitTrainVal } from '../../../src/engine/directions/prompts';
import { cos, loadOrganismV2, type LoadedOrganism } from '../../support/organismV2';

const cand = (layer: number, bypass: number, kl: number, induce: number, position = -1): Candidate => ({ position, layer, bypass, kl, induce, norm: 1 });

/** Judges every candidate with the default rules for `layers`, then selects. */
function select(layers: number, table: Candidate[]): Candidate | undefined {
  const rules = filterRules(layers);
  for (const c of table) judgeCandidate(c, rules);
  return selectCandidate(table);
}

describe('selection on constructed candidate tables', () => {
  test('the lowest bypass score wins among candidates that pass, not the highest', () => {
    const table = [cand(1, -2, 0.01, 1), cand(2, -5, 0.02, 1), cand(3, 1.5, 0.03, 1)];
    assert.equal(select(10, table), table[1]);
  });

  test('a candidate over the KL threshold (0.1) is dropped even with the lowest bypass score', () => {
    const table = [cand(1, -9, 0.5, 2), cand(2, -3, 0.1, 2), cand(3, -1, 0.02, 2)];
    assert.equal(select(10, table), table[1], 'KL exactly 0.1 passes (filtered only when > 0.1)');
    assert.match(table[0].filtered!, /^KL 0\.500 > 0\.1$/);
  });

  test('a candidate whose induce score is below 0 is dropped even with the lowest bypass score', () => {
    const table = [cand(1, -9, 0.01, -0.5), cand(2, -3, 0.01, 0), cand(3, -1, 0.01, 3)];
    assert.equal(select(10, table), table[1], 'induce exactly 0 passes (filtered only when < 0)');
    assert.match(table[0].filtered!, /^induce score -0\.50 < 0$/);
  });

  test('a candidate with a NaN score is never selected', () => {
    const table = [cand(1, NaN, 0.01, 1), cand(2, -3, NaN, 1), cand(3, -1, 0.01, NaN), cand(4, 0.5, 0.01, 1)];
    assert.equal(select(10, table), table[3]);
  });

  test('each filter alone decides: the lowest scores fail one filter each, the answer is the one that fails none', () => {
    const table = [cand(8, -10, 0.01, 1), cand(1, -9, 0.2, 1), cand(2, -8, 0.01, -1), cand(3, -2, 0.01, 1), cand(4, 4, 0.01, 1)];
    assert.equal(select(10, table), table[3]);
    assert.deepEqual(
      table.map((c) => c.filtered?.split(' ')[0]),
      ['layer', 'KL', 'induce', undefined, undefined],
    );
  });

  test('the first rule a candidate fails is its reason, in the reference order (NaN, layer, KL, induce)', () => {
    const rules = filterRules(10);
    const c = cand(9, -1, 0.5, -1);
    assert.equal(judgeCandidate(c, rules)?.name, 'layer ≥ 8');
    const d = cand(1, -1, 0.5, -1);
    assert.equal(judgeCandidate(d, rules)?.name, 'KL > 0.1');
  });

  test("layer pruning drops layer ≥ int(n_layer × 0.8) as the reference's filter_fn does, for several depths", () => {
    // Python: int(n_layer * (1.0 - 0.2)), computed by hand for each depth.
    const reference: Record<number, number> = { 4: 3, 5: 4, 6: 4, 10: 8, 18: 14, 24: 19, 28: 22, 32: 25, 40: 32 };
    for (const [L, from] of Object.entries(reference).map(([k, v]) => [Number(k), v])) {
      assert.equal(prunedFrom(L), from, `${L} layers`);
      const table = [cand(from, -9, 0.01, 1), cand(from - 1, -1, 0.01, 1), cand(L - 1, -10, 0.01, 1)];
      assert.equal(select(L, table), table[1], `${L} layers: layer ${from} is pruned, ${from - 1} is not`);
      assert.match(table[0].filtered!, new RegExp(`^layer ≥ ${from} `));
    }
  });
});

/** The reference's filter_fn and sort, written out here independently of the engine's rules. */
function referenceSelection(layers: number, candidates: Candidate[]): { kept: Set<Candidate>; selected?: Candidate } {
  const discard = (c: Candidate) =>
    [c.bypass, c.induce, c.kl].some(Number.isNaN) || c.layer >= Math.trunc(layers * (1.0 - 0.2)) || c.kl > 0.1 || c.induce < 0;
  const kept = new Set(candidates.filter((c) => !discard(c)));
  const selected = [...kept].sort((a, b) => a.bypass - b.bypass)[0];
  return { kept, selected };
}

describe('selection on organism v2 (seed 3, 6 layers): candidates with lower bypass scores are filtered, refusal must win', () => {
  let o: LoadedOrganism;
  let r: ExtractResult;
  before(async () => {
    o = await loadOrganismV2({ seed: 3, layers: 6, hidden: 64 });
    r = await extractRefusalDirection(o.aligned, {
      harmful: splitTrainVal(promptSet('harmful', o.organism.prompts.harmful_train)),
      harmless: splitTrainVal(promptSet('harmless', o.organism.prompts.harmless_train)),
      // Every candidate scored, so each verdict can be compared with the reference's.
      exhaustive: true,
    });
  });
  after(() => o?.dispose());

  test('the selected candidate is the planted refusal direction (|cos| ≥ 0.9), not harm awareness (|cos| ≤ 0.5)', () => {
    assert.ok(r.selected, r.report);
    const v = r.vector!;
    assert.ok(Math.abs(cos(v, o.gt.directions.refusal)) >= 0.9, `cos with refusal ${cos(v, o.gt.directions.refusal)} at layer ${r.selected.layer}`);
    assert.ok(Math.abs(cos(v, o.gt.directions.harmAwareness)) <= 0.5, `cos with harm awareness ${cos(v, o.gt.directions.harmAwareness)}`);
    assert.ok(r.selected.layer > o.gt.writtenAt.refusal, 'resid_pre holds r only after the first layer that writes it');
  });

  test('the case is one where the filters decide: a filtered candidate has a lower bypass score than the selected one', () => {
    const lower = r.candidates.filter((c) => c.filtered && c.bypass < r.selected!.bypass);
    assert.ok(lower.length > 0, 'no filtered candidate beats the selected one: this organism no longer tests the filters');
    // Those before r is written are harm-awareness candidates, and the induce filter is what drops them.
    for (const c of lower.filter((c) => c.layer <= o.gt.writtenAt.refusal)) assert.match(c.filtered!, /^induce score/);
  });

  test("every candidate's verdict and the selection equal the reference's filter_fn and sort on the same scores", () => {
    const ref = referenceSelection(o.aligned.info.layers, r.candidates);
    // Every candidate with all three scores (selection may leave scores it does not need uncomputed).
    const scored = r.candidates.filter((c) => [c.bypass, c.kl, c.induce].every(Number.isFinite));
    assert.ok(scored.length >= 3);
    for (const c of scored) assert.equal(!c.filtered, ref.kept.has(c), `position ${c.position}, layer ${c.layer}: ${c.filtered ?? 'kept'}`);
    assert.equal(r.selected, ref.selected);
  });
});

describe('validation prompts', () => {
  test('validation is the last quarter of each file (at least 2 prompts), training the rest, in file order and disjoint', () => {
    const prompts = Array.from({ length: 12 }, (_, i) => `prompt ${i}`);
    const { train, val } = splitTrainVal(promptSet('p', prompts));
    assert.deepEqual(val.prompts, prompts.slice(9));
    assert.deepEqual(train.prompts, prompts.slice(0, 9));
    const small = splitTrainVal(promptSet('p', prompts.slice(0, 5)));
    assert.deepEqual(small.val.prompts, ['prompt 3', 'prompt 4']);
  });
});
