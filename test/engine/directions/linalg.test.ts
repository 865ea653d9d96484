import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mat, principalCosines, svd, symmetricEigen } from '../../../src/engine/directions/linalg';
import { seededRandom } from '../../../src/engine/runtime/random';

test('symmetric eigen of a hand-computed 2×2', () => {
  // [[2,1],[1,2]] has eigenvalues 3 (along [1,1]/√2) and 1 (along [1,-1]/√2).
  const { values, vectors } = symmetricEigen(mat(2, 2, [2, 1, 1, 2]));
  assert.ok(Math.abs(values[0] - 3) < 1e-12 && Math.abs(values[1] - 1) < 1e-12);
  assert.ok(Math.abs(Math.abs(vectors.data[0]) - Math.SQRT1_2) < 1e-12);
  assert.ok(Math.abs(vectors.data[0] - vectors.data[1]) < 1e-12);
});

test('svd reconstructs a random matrix and its vectors are orthonormal', () => {
  const rand = seededRandom(7);
  const n = 12;
  const d = 30;
  const a = mat(n, d, Array.from({ length: n * d }, () => rand() * 2 - 1));
  const { s, u, v } = svd(a);
  assert.equal(s.length, n);
  for (let i = 1; i < s.length; i++) assert.ok(s[i] <= s[i - 1]);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < d; c++) {
      let x = 0;
      for (let j = 0; j < s.length; j++) x += u.data[j * n + i] * s[j] * v.data[j * d + c];
      assert.ok(Math.abs(x - a.data[i * d + c]) < 1e-9);
    }
  }
  for (let i = 0; i < s.length; i++) {
    for (let j = 0; j < s.length; j++) {
      let x = 0;
      for (let c = 0; c < d; c++) x += v.data[i * d + c] * v.data[j * d + c];
      assert.ok(Math.abs(x - (i === j ? 1 : 0)) < 1e-9);
    }
  }
});

test('svd of a rank-1 matrix keeps one component', () => {
  const a = mat(3, 2, [1, 2, 2, 4, 3, 6]);
  const { s, v } = svd(a);
  assert.equal(s.length, 1);
  assert.ok(Math.abs(s[0] - Math.sqrt(14 * 5)) < 1e-9);
  assert.ok(Math.abs(Math.abs(v.data[0]) - 1 / Math.sqrt(5)) < 1e-12);
});

test('principal angles: identical planes, a plane and a tilted line, orthogonal lines', () => {
  const e = (i: number) => [0, 1, 2, 3].map((j) => (i === j ? 1 : 0));
  const c = principalCosines([e(0), e(1)], [[1, 1, 0, 0], [1, -1, 0, 0]]);
  assert.ok(Math.abs(c[0] - 1) < 1e-9 && Math.abs(c[1] - 1) < 1e-9);
  // A line at 60° to the plane span(e0, e1): cos = 0.5.
  const line = [0.5, 0, Math.sqrt(3) / 2, 0];
  assert.ok(Math.abs(principalCosines([e(0), e(1)], [line])[0] - 0.5) < 1e-9);
  assert.deepEqual(principalCosines([e(2)], [e(3)]), [0]);
});
