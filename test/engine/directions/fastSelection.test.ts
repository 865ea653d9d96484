// Fast selection (bypass first, filters in bypass order until one passes) must select exactly the
// candidate exhaustive scoring selects, on several organisms and with thresholds that make the best
// candidates fail, and the skipped scores filled in later must be the exhaustive ones.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { counters } from '../../../src/engine/diagnostics';
import { Candidate, ExtractOptions, ExtractResult, extractRefusalDirection, scoreCandidates } from '../../../src/engine/directions/extract';
import { promptSet, splitTrainVal } from '../../../src/engine/directions/prompts';
import { Engine } from '../../../src/engine/engine';
import { writeOrganism } from '../../../src/modelgen/organism2';
import { tempDir } from '../../support/paths';

interface Built {
  dir: string;
  prompts: { harmful_train: string[]; harmless_train: string[] };
}

const ORGANISMS: { name: string; write: (dir: string) => Built }[] = [
  { name: 'seed 1, 4 layers, hidden 64', write: (dir) => ({ dir, prompts: writeOrganism(dir, { seed: 1, layers: 4, hidden: 64, safetyLayer: 1 }).organism.prompts }) },
  { name: 'seed 2, 6 layers, hidden 96', write: (dir) => ({ dir, prompts: writeOrganism(dir, { seed: 2, layers: 6, hidden: 96, safetyLayer: 2 }).organism.prompts }) },
  { name: 'seed 1, 6 layers, hidden 64', write: (dir) => ({ dir, prompts: writeOrganism(dir, { seed: 1, layers: 6, hidden: 64, safetyLayer: 2 }).organism.prompts }) },
  { name: 'seed 3, 5 layers, hidden 64, genai style', write: (dir) => ({ dir, prompts: writeOrganism(dir, { seed: 3, layers: 5, hidden: 64, safetyLayer: 1, style: 'genai' }).organism.prompts }) },
];

const key = (c: Pick<Candidate, 'layer' | 'position'>) => `${c.position}/${c.layer}`;
const scores = (r: ExtractResult) => r.candidates.flatMap((c) => [c.bypass, c.kl, c.induce]).filter(Number.isFinite).length;

for (const o of ORGANISMS) {
  describe(`fast selection = exhaustive: organism ${o.name}`, () => {
    const root = tempDir('fast-selection');
    let engine: Engine;
    let built: Built;
    let opts: ExtractOptions;

    before(async () => {
      built = o.write(path.join(root, 'model'));
      engine = await Engine.load({ model: built.dir, dtype: 'fp32', cacheDir: path.join(root, 'cache'), allowRemote: false });
      opts = { harmful: splitTrainVal(promptSet('harmful', built.prompts.harmful_train)), harmless: splitTrainVal(promptSet('harmless', built.prompts.harmless_train)) };
    });
    after(async () => engine?.dispose());

    /** Both modes with the same options; the fast one must agree on every score it computed. */
    const both = async (extra: Partial<ExtractOptions>) => {
      const runs0 = counters.sessionRuns;
      const exhaustive = await extractRefusalDirection(engine, { ...opts, ...extra, exhaustive: true });
      const runs1 = counters.sessionRuns;
      const fast = await extractRefusalDirection(engine, { ...opts, ...extra });
      const runs2 = counters.sessionRuns;
      assert.equal(fast.selected && key(fast.selected), exhaustive.selected && key(exhaustive.selected));
      const full = new Map(exhaustive.candidates.map((c) => [key(c), c]));
      for (const c of fast.candidates) {
        const e = full.get(key(c))!;
        for (const s of ['bypass', 'kl', 'induce'] as const) if (Number.isFinite(c[s])) assert.equal(c[s], e[s], `${s} of ${key(c)}`);
        // A candidate fast selection left unscored is one exhaustive scoring filters or ranks lower.
        if (c.skipped && !c.filtered && exhaustive.selected) assert.ok(e.bypass >= exhaustive.selected.bypass, key(c));
      }
      assert.ok(scores(fast) < scores(exhaustive), `fast computed ${scores(fast)} scores, exhaustive ${scores(exhaustive)}`);
      assert.ok(runs2 - runs1 < runs1 - runs0, `fast ran ${runs2 - runs1} passes, exhaustive ${runs1 - runs0}`);
      return { fast, exhaustive };
    };

    test('default filters: same candidate, fewer passes, and the skipped scores filled in equal the exhaustive ones', async () => {
      const { fast, exhaustive } = await both({});
      assert.ok(exhaustive.selected, exhaustive.report);
      assert.ok(fast.candidates.some((c) => c.skipped), 'fast selection skipped nothing');
      const skipped = fast.candidates.filter((c) => c.skipped && c.norm > 0);
      const n = fast.positions.length;
      const filled = await scoreCandidates(engine, { ...fast.validation, refusalTokens: fast.refusalTokens, candidates: skipped.map((c) => ({ position: c.position, layer: c.layer, vector: Array.from(fast.meanDiffs[c.position + n][c.layer]) })) });
      const full = new Map(exhaustive.candidates.map((c) => [key(c), c]));
      for (const c of filled) {
        const e = full.get(key(c))!;
        assert.deepEqual([c.bypass, c.kl, c.induce, c.filtered], [e.bypass, e.kl, e.induce, e.filtered], key(c));
      }
    });

    test('the lowest-bypass candidates fail the KL filter: fast selection walks down the bypass order to the same one', async () => {
      const { exhaustive: first } = await both({});
      // A KL threshold just under the selected candidate's KL filters it (and maybe the next ones). Its
      // KL can be 0 to rounding (nothing reads the direction on harmless prompts), hence the absolute step.
      const kl = first.selected!.kl;
      const klThreshold = kl - Math.abs(kl) * 1e-3 - 1e-9;
      const { fast, exhaustive } = await both({ klThreshold });
      assert.notEqual(exhaustive.selected && key(exhaustive.selected), key(first.selected!), 'the tighter threshold did not change the selection');
      assert.ok(fast.candidates.some((c) => c.filtered?.startsWith('KL')), 'fast selection never met a candidate the KL filter drops');
    });

    test('an induce threshold nothing meets: both filter everything and report it', async () => {
      const { fast, exhaustive } = await both({ induceThreshold: 1e6 });
      assert.equal(fast.selected, undefined);
      assert.equal(exhaustive.selected, undefined);
      assert.match(fast.report!, /All \d+ candidates were filtered out: .*induce score < 1000000/);
    });
  });
}
