// Direction geometry: the logit lens against W_U (γ ⊙ r̂) computed from the weights each fixture
// graph holds, on the planted organism (r promotes the refusal openings), and `compare` of direction
// files (cosines, and a clear error for files of different model shapes).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { writeDirections } from '../../../src/engine/directions/file';
import { compareDirections, cosineMatrix } from '../../../src/engine/directions/geometry';
import { logitLens } from '../../../src/engine/directions/lens';
import { Engine } from '../../../src/engine/engine';
import { seededGaussian } from '../../../src/engine/runtime/random';
import { buildOrganismV2 } from '../../../src/modelgen/organism2';
import { makeWordTokenizer } from '../../../src/modelgen/tokenizer';
import { lmHeadOf } from '../../../src/modelgen/weights';
import { writeModel } from '../../../src/modelgen/write';
import { fixture } from '../../support/fixtures';
import { REPO, tempDir } from '../../support/paths';

const gaussian = (n: number, seed: number) => Array.from({ length: n }, seededGaussian(seed));

for (const [style, dtype] of [['torch', 'fp32'], ['genai', 'q4'], ['torch', 'fp16'], ['genai', 'q8']] as const) {
  test(`logit lens on ${style} ${dtype} equals W_U (γ ⊙ r̂) of the stored weights`, async () => {
    const fx = fixture({ style, dtype, seed: 4, config: { tiedEmbeddings: dtype === 'q4' } });
    const engine = await Engine.load({ model: fx.dir, dtype, cacheDir: tempDir('lens-cache'), allowRemote: false });
    try {
      const v = gaussian(fx.config.hidden, 9);
      const lens = await logitLens(engine, v, 5);
      const n = Math.hypot(...v);
      const W = lmHeadOf(fx.config, fx.weights);
      const V = fx.config.vocabSize;
      const want = (id: number) => v.reduce((a, x, h) => a + W[h * V + id] * fx.weights.finalNorm[h] * (x / n), 0);
      const all = Array.from({ length: V }, (_, id) => want(id));
      const scale = Math.max(...all.map(Math.abs));
      // fp32 and q4 (float activations, tied table read as stored): 1e-4. fp16 rounds the normed
      // residual and the logits to 11 bits (2^-10 of the largest logit, twice); q8 quantizes the
      // normed activation to 8 bits before the lm_head (half a step: 0.2% of its range, times Σ|W_U|).
      const tol = dtype === 'fp16' ? 4e-3 * scale : dtype === 'q8' ? 3e-2 * scale : 1e-4;
      for (const t of [...lens.top, ...lens.bottom]) assert.ok(Math.abs(t.value - want(t.id)) <= tol, `${t.token}: ${t.value} vs ${want(t.id)}`);
      const sorted = [...all].sort((a, b) => b - a);
      if (dtype === 'fp32' || dtype === 'q4') {
        assert.deepEqual(lens.top.map((t) => t.id), all.map((_, id) => id).sort((a, b) => all[b] - all[a]).slice(0, 5));
      }
      assert.ok(Math.abs(lens.top[0].value - sorted[0]) <= tol && Math.abs(lens.bottom[0].value - sorted.at(-1)!) <= tol);
    } finally {
      await engine.dispose();
    }
  });
}

test('refusal-lens compare and lens on organism v2 direction files', async () => {
  const o = buildOrganismV2({ seed: 1 });
  const gt = o.groundTruth('aligned');
  const dir = path.join(tempDir('lens-organism'), 'model');
  writeModel(dir, { config: o.config, weights: o.aligned, tokenizer: makeWordTokenizer(o.vocab), style: 'genai', dtype: 'fp32', eosId: o.vocab.indexOf('<|im_end|>'), padId: o.vocab.indexOf('<|endoftext|>') });
  const cache = tempDir('lens-organism-cache');
  const files = tempDir('lens-files');
  const model = { id: dir, layers: o.config.layers, hidden: o.config.hidden };
  const write = (name: string, directions: { layer: number; vector: number[] }[]) =>
    writeDirections(path.join(files, name), { model, selected: 0, directions: directions.map((d, i) => ({ name: `d${i}`, position: -1, method: 'test', ...d })) });
  const r = gt.directions.refusal;
  const other = gaussian(o.config.hidden, 3);
  await write('a.json', [{ layer: 1, vector: r }, { layer: 2, vector: other }]);
  await write('b.json', [{ layer: 1, vector: r.map((x) => -2 * x) }, { layer: 3, vector: other }]);
  const cli = (...args: string[]) => spawnSync(process.execPath, [path.join(REPO, 'bin', 'refusal-lens.js'), ...args], { encoding: 'utf8' });
  const c = cli('compare', path.join(files, 'a.json'), path.join(files, 'b.json'), '--json');
  assert.equal(c.status, 0, c.stderr);
  const out = JSON.parse(c.stdout);
  assert.ok(Math.abs(out.selected + 1) < 1e-6);
  assert.deepEqual(out.layers.map((l: { layer: number }) => l.layer), [1]);
  const l = cli('lens', '--model', dir, '--directions', path.join(files, 'a.json'), '--cache-dir', cache, '--top', '2', '--json');
  assert.equal(l.status, 0, l.stderr);
  assert.equal(JSON.parse(l.stdout).top.length, 2);
  await writeDirections(path.join(files, 'small.json'), { model: { id: 'other', layers: 2, hidden: 16 }, selected: 0, directions: [{ name: 's', layer: 0, position: -1, method: 'test', vector: gaussian(16, 1) }] });
  const bad = cli('compare', path.join(files, 'a.json'), path.join(files, 'small.json'));
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /a\.json was made for .* \(4 layers, hidden 64\) and .*small\.json for other \(2 layers, hidden 16\): directions of models of different shapes cannot be compared/);
  const usage = cli('compare', path.join(files, 'a.json'));
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /compare takes two direction files, got 1/);
});

test('cosine matrix: symmetric, unit diagonal, the cosines of the pairs', () => {
  const vs = [gaussian(8, 1), gaussian(8, 2), gaussian(8, 1).map((x) => -3 * x)];
  const m = cosineMatrix(vs);
  assert.deepEqual(m.map((row, i) => row[i]), [1, 1, 1]);
  assert.ok(Math.abs(m[0][2] + 1) < 1e-12 && m[0][1] === m[1][0]);
  assert.throws(() => compareDirections({ model: { id: 'a', layers: 2, hidden: 8 }, directions: [], selected: 0 }, { model: { id: 'b', layers: 3, hidden: 8 }, directions: [], selected: 0 }, 'a.json', 'b.json'), /different shapes/);
});
