// Pan et al.'s two-model shift is the least-squares map's part, S = XW − X with W = lstsq(X, Y)
// (safety-residual-space extract.py calculate_aligned_diffs, method "matrix"), not Y − X. The two
// agree only when P_X Y = Y (e.g. fewer prompts than hidden dimensions): these cases have more
// prompts than dimensions, so they differ, and S is recomputed here independently (Gram-Schmidt
// projection onto X's column space) from the reference forward pass's activations.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mat, type Mat } from '../../../src/engine/directions/linalg';
import { linearShift, safetySpace } from '../../../src/engine/directions/space';
import { seededGaussian } from '../../../src/engine/runtime/random';
import { referenceForward } from '../../../src/modelgen/reference';
import { loadOrganismV2, type LoadedOrganism } from '../../support/organismV2';

/** P_X Y − X, with P_X from modified Gram-Schmidt on X's columns (columns below `tol` of their norm dropped). */
function projectedShift(x: Mat, y: Mat, tol = 1e-7): Mat {
  const n = x.rows;
  const col = (m: Mat, c: number) => Float64Array.from({ length: n }, (_, i) => m.data[i * m.cols + c]);
  const q: Float64Array[] = [];
  for (let c = 0; c < x.cols; c++) {
    const v = col(x, c);
    const n0 = Math.hypot(...v);
    for (const b of q) {
      const d = b.reduce((s, bi, i) => s + bi * v[i], 0);
      for (let i = 0; i < n; i++) v[i] -= d * b[i];
    }
    const nv = Math.hypot(...v);
    if (nv > tol * n0 && nv > 0) q.push(v.map((a) => a / nv));
  }
  const out = mat(n, x.cols);
  for (let c = 0; c < y.cols; c++) {
    const v = col(y, c);
    const p = new Float64Array(n);
    for (const b of q) {
      const d = b.reduce((s, bi, i) => s + bi * v[i], 0);
      for (let i = 0; i < n; i++) p[i] += d * b[i];
    }
    for (let i = 0; i < n; i++) out.data[i * x.cols + c] = p[i] - x.data[i * x.cols + c];
  }
  return out;
}

const frob = (m: ArrayLike<number>) => Math.sqrt(Array.from(m).reduce((s, v) => s + v * v, 0));
const minus = (a: Mat, b: Mat) => a.data.map((v, i) => v - b.data[i]);

test('linearShift is P_X Y − X (the least-squares fit), not Y − X, when X has more rows than columns', () => {
  const g = seededGaussian(5);
  const x = mat(10, 3, Array.from({ length: 30 }, g));
  const y = mat(10, 3, Array.from({ length: 30 }, g));
  const want = projectedShift(x, y);
  const got = linearShift(x, y);
  assert.ok(frob(minus(got, want)) <= 1e-9 * frob(want.data), `‖diff‖ ${frob(minus(got, want))}`);
  // The case distinguishes the two: Y − X is far from it.
  assert.ok(frob(minus(mat(10, 3, minus(y, x)), want)) >= 0.5 * frob(want.data));
});

describe('two-model safety space on organism v2 against a base model whose last token cannot see the prompt', () => {
  // The base is the aligned model with every attention output zeroed: its last-token activations
  // are the same for every prompt (X has rank 1), so P_X Y is the mean of Y and XW − X is far from
  // Y − X. (On the organism's own base the shift is linear in X and the two agree to 0.1%.)
  let o: LoadedOrganism;
  before(async () => {
    o = await loadOrganismV2({ seed: 1, layers: 4, hidden: 64, base: (org) => ({ ...org.aligned, layers: org.aligned.layers.map((lw) => ({ ...lw, o: new Float32Array(lw.o.length) })) }) });
  });
  after(() => o?.dispose());

  test("each layer's spectrum is that of XW − X computed from the reference activations (P_X Y ≠ Y here)", async () => {
    const prompts = [...o.organism.prompts.harmful_train.slice(0, 12), ...o.organism.prompts.harmless_train.slice(0, 12)];
    const { layers: L, hidden: H } = o.organism.config;
    const space = await safetySpace(o.aligned, o.base, { prompts, components: 2, interactionPrompts: 1 });
    // Last-token activations of both models at hidden-state index l (resid_pre l, or the final norm's input).
    const ids = prompts.map((p) => o.aligned.tokenizer.encode(p, { chat: true }).ids);
    const acts = (w: typeof o.organism.aligned) => {
      const outs = ids.map((s) => referenceForward(o.organism.config, w, s).residuals);
      return Array.from({ length: L + 1 }, (_, l) => mat(ids.length, H, outs.flatMap((r, i) => Array.from(r[2 * l].subarray((ids[i].length - 1) * H, ids[i].length * H)))));
    };
    const [x, y] = [acts(o.organism.base), acts(o.organism.aligned)];
    let distinguishing = 0;
    for (const layer of space.layers) {
      const l = layer.layer;
      const s = projectedShift(x[l], y[l]);
      const total = frob(s.data) ** 2 / (prompts.length - 1);
      const engineTotal = layer.eigenvalues.reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(engineTotal - total) <= 1e-3 * total + 1e-9, `layer ${l}: Σλ ${engineTotal} vs ‖XW − X‖²/(N−1) ${total}`);
      const identity = frob(minus(y[l], x[l])) ** 2 / (prompts.length - 1);
      if (Math.abs(identity - total) > 0.1 * total) distinguishing++;
    }
    assert.ok(distinguishing >= L - 1, `only ${distinguishing} layers where Y − X and XW − X differ: the case does not test the map`);
  });
});
