// Paper A §5's suffix analysis on organism v2, whose planted suffix token captures the attention of
// named heads (ground truth: suffix.heads, suffix.refusalHead). The analysis must find exactly those
// heads: their attention at the last position moves to the suffix, and their direct contribution to
// r drops, while the random suffix changes nothing. Checked on the decomposed (torch, Softmax) and
// the fused (genai, GroupQueryAttention: pattern computed from q and k) exports, and on q4.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { writeDirections } from '../../../src/engine/directions/file';
import { Engine } from '../../../src/engine/engine';
import { headsAnalysis, HeadsResult } from '../../../src/engine/heads/heads';
import { buildOrganismV2, RANDOM_SUFFIX, SUFFIX_TOKEN } from '../../../src/modelgen/organism2';
import { makeWordTokenizer } from '../../../src/modelgen/tokenizer';
import { writeModel } from '../../../src/modelgen/write';
import { REPO, tempDir } from '../../support/paths';

const organism = buildOrganismV2({ seed: 1 });
const gt = organism.groundTruth('aligned');
const key = (h: { layer: number; head: number }) => `${h.layer}.${h.head}`;
const planted = new Set(gt.suffix.heads.map(key));
const refusalLayer = gt.writtenAt.refusal;
/** The instruction of each suffixed test prompt, with its harm word's category. */
const cases = organism.prompts.suffix_test.slice(0, 6).map((p) => {
  const prompt = p.slice(0, -SUFFIX_TOKEN.length).trimEnd();
  const category = gt.triggerCategories.violence.some((w) => prompt.split(' ').includes(w)) ? 'violence' : 'cyber';
  return { prompt, category };
});

function writeOrganism(style: 'torch' | 'genai', dtype: 'fp32' | 'q4'): string {
  const dir = path.join(tempDir(`heads-organism-${style}-${dtype}`), 'model');
  const v = organism.vocab;
  writeModel(dir, { config: organism.config, weights: organism.aligned, tokenizer: makeWordTokenizer(v), style, dtype, eosId: v.indexOf('<|im_end|>'), padId: v.indexOf('<|endoftext|>') });
  return dir;
}

/** Share of the last position's attention on the suffix tokens. */
const suffixShare = (run: NonNullable<HeadsResult['suffix']>['runs']['suffix'], i: number) => run.heads[i].attention.slice(...run.suffixTokens).reduce((a, b) => a + b, 0);

for (const [style, dtype] of [['torch', 'fp32'], ['genai', 'fp32'], ['torch', 'q4']] as const) {
  describe(`suffix analysis on organism v2 (${style} ${dtype})`, () => {
    let engine: Engine;
    const results: { category: string; r: HeadsResult }[] = [];
    before(async () => {
      engine = await Engine.load({ model: writeOrganism(style, dtype), dtype, cacheDir: tempDir('heads-organism-cache'), allowRemote: false });
      for (const c of cases) {
        results.push({ category: c.category, r: await headsAnalysis(engine, c.prompt, { vector: gt.directions.refusal, layer: refusalLayer + 1 }, { suffix: SUFFIX_TOKEN, baseline: RANDOM_SUFFIX }) });
      }
    });
    after(() => engine?.dispose());

    test('the suffix tokens are found: one token at the end of the instruction, the random word likewise', () => {
      for (const { r } of results) {
        const { suffix, baseline } = r.suffix!.runs;
        assert.deepEqual(suffix.tokens.slice(...suffix.suffixTokens), [SUFFIX_TOKEN]);
        assert.deepEqual(baseline.tokens.slice(...baseline.suffixTokens), [RANDOM_SUFFIX]);
        assert.equal(suffix.suffixTokens[1], suffix.instruction[1]);
      }
    });

    test('the heads whose attention moves to the suffix are exactly the planted ones', () => {
      for (const { r } of results) {
        const { suffix, baseline } = r.suffix!.runs;
        const moved = suffix.heads.filter((h, i) => suffixShare(suffix, i) - suffixShare(baseline, i) > 0.5).map(key);
        assert.deepEqual(new Set(moved), planted, `moved: ${moved.join(', ')}`);
        for (const [i, h] of suffix.heads.entries()) if (planted.has(key(h))) assert.ok(suffixShare(suffix, i) > 0.9, `${key(h)} puts ${suffixShare(suffix, i)} on the suffix`);
      }
    });

    test('the top head by contribution is the planted refusal head, and the suffix removes most of its contribution', () => {
      for (const { r } of results) {
        const [top] = r.suffix!.top;
        assert.equal(key(top), key(gt.suffix.refusalHead));
        assert.ok(top.contribution.baseline > 1, `baseline ${top.contribution.baseline}`);
        assert.ok(top.change < -0.8 * top.contribution.baseline, `change ${top.change} of ${top.contribution.baseline}`);
        assert.ok(top.attention.suffix.suffix > 0.9 && top.attention.baseline.suffix < 0.1, JSON.stringify(top.attention));
        assert.ok(top.attention.baseline.instruction > 0.9);
      }
    });

    test("the harm detector of the prompt's category loses its contribution to r; the projection collapses after the refusal layer", () => {
      for (const { category, r } of results) {
        const detector = gt.suffix.heads.find((h) => h.role.startsWith(category === 'violence' ? 'violence' : 'cyber'))!;
        const { suffix, baseline } = r.suffix!.runs;
        const i = suffix.heads.findIndex((h) => key(h) === key(detector));
        assert.ok(suffix.heads[i].contribution < baseline.heads[i].contribution - 0.3, `${key(detector)}: ${baseline.heads[i].contribution} -> ${suffix.heads[i].contribution}`);
        for (const c of r.suffix!.cosines.filter((c) => c.layer > refusalLayer)) {
          // Collapses: what the noise writes along r stays (about 0.1 of the planted circuit's cosine).
          assert.ok(c.baseline > 0.5 && c.suffix < 0.2 * c.baseline, `layer ${c.layer}: ${c.baseline} -> ${c.suffix}`);
        }
      }
    });
  });
}

test('refusal-lens heads --json on the organism: every head of every layer, and the suffix section', async () => {
  const dir = writeOrganism('torch', 'fp32');
  const file = path.join(tempDir('heads-dirs'), 'refusal.json');
  await writeDirections(file, { model: { id: dir, layers: organism.config.layers, hidden: organism.config.hidden }, selected: 0, directions: [{ name: 'refusal', layer: refusalLayer + 1, position: -1, method: 'planted', vector: gt.directions.refusal }] });
  const cli = (...args: string[]) => spawnSync(process.execPath, [path.join(REPO, 'bin', 'refusal-lens.js'), 'heads', '--model', dir, '--directions', file, '--cache-dir', tempDir('heads-cli-cache'), ...args], { encoding: 'utf8' });
  const r = cli('--prompt', cases[0].prompt, '--suffix', SUFFIX_TOKEN, '--random-suffix', RANDOM_SUFFIX, '--top', '3', '--json');
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.position, out.tokens.length - 1);
  assert.equal(out.heads.length, organism.config.layers * organism.config.heads);
  for (const h of out.heads) assert.equal(h.attention.length, out.tokens.length);
  assert.equal(out.suffix.top.length, 3);
  assert.equal(key(out.suffix.top[0]), key(gt.suffix.refusalHead));
  assert.equal(out.suffix.cosines.length, organism.config.layers + 1);
  const text = cli('--prompt', cases[0].prompt, '--position', '-3');
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /direct contributions to 'refusal' at token \d+/);
  const bad = cli('--prompt', cases[0].prompt, '--position', '400');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /position 400 is outside the prompt \(\d+ tokens/);
  const usage = cli('--prompt', 'x', '--random-suffix', 'lamp');
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /--random-suffix needs --suffix/);
});
