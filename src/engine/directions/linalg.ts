// Small dense linear algebra in float64 for direction work: the matrices are prompts × hidden
// (hundreds × thousands), so everything goes through the prompts × prompts Gram matrix, whose
// symmetric eigendecomposition (Householder tridiagonalisation + implicit QL) is O(N³) once.

/** Row-major matrix. */
export interface Mat {
  rows: number;
  cols: number;
  data: Float64Array;
}

export function mat(rows: number, cols: number, data?: ArrayLike<number>): Mat {
  const m = { rows, cols, data: new Float64Array(rows * cols) };
  if (data) {
    if (data.length !== rows * cols) throw new Error(`matrix data has ${data.length} values, expected ${rows}×${cols}`);
    m.data.set(data);
  }
  return m;
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>, aOff = 0, bOff = 0, n = a.length): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[aOff + i] * b[bOff + i];
  return s;
}

export function norm(v: ArrayLike<number>): number {
  return Math.sqrt(dot(v, v));
}

/** A Aᵀ for A [n, d]. */
export function gramRows(a: Mat): Mat {
  const g = mat(a.rows, a.rows);
  for (let i = 0; i < a.rows; i++) {
    for (let j = 0; j <= i; j++) {
      const v = dot(a.data, a.data, i * a.cols, j * a.cols, a.cols);
      g.data[i * a.rows + j] = v;
      g.data[j * a.rows + i] = v;
    }
  }
  return g;
}

/**
 * Eigen-decomposition of a symmetric matrix. Returns eigenvalues in descending order and the
 * matching unit eigenvectors as the rows of `vectors`.
 */
export function symmetricEigen(m: Mat): { values: Float64Array; vectors: Mat } {
  const n = m.rows;
  if (n !== m.cols) throw new Error('symmetricEigen needs a square matrix');
  // a[i][j] working copy, column-major-free 2-D arrays keep the classic algorithm readable.
  const a = Array.from({ length: n }, (_, i) => Array.from(m.data.subarray(i * n, (i + 1) * n)));
  const d = new Array<number>(n).fill(0);
  const e = new Array<number>(n).fill(0);
  tred2(a, d, e);
  tql2(a, d, e);
  const order = d.map((_, i) => i).sort((x, y) => d[y] - d[x]);
  const values = Float64Array.from(order.map((i) => d[i]));
  const vectors = mat(n, n);
  order.forEach((col, r) => {
    for (let k = 0; k < n; k++) vectors.data[r * n + k] = a[k][col];
  });
  return { values, vectors };
}

// Householder reduction to tridiagonal form (after the public-domain JAMA routine): on return `a`
// holds the orthogonal transform, d the diagonal and e the sub-diagonal.
function tred2(V: number[][], d: number[], e: number[]): void {
  const n = d.length;
  for (let j = 0; j < n; j++) d[j] = V[n - 1][j];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = V[i - 1][j];
        V[i][j] = 0;
        V[j][i] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j];
        V[j][i] = f;
        g = e[j] + V[j][j] * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += V[k][j] * d[k];
          e[k] += V[k][j] * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        for (let k = j; k <= i - 1; k++) V[k][j] -= f * e[k] + g * d[k];
        d[j] = V[i - 1][j];
        V[i][j] = 0;
      }
    }
    d[i] = h;
  }
  for (let i = 0; i < n - 1; i++) {
    V[n - 1][i] = V[i][i];
    V[i][i] = 1;
    const h = d[i + 1];
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = V[k][i + 1] / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += V[k][i + 1] * V[k][j];
        for (let k = 0; k <= i; k++) V[k][j] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) V[k][i + 1] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = V[n - 1][j];
    V[n - 1][j] = 0;
  }
  V[n - 1][n - 1] = 1;
  e[0] = 0;
}

// Implicit QL iterations on the tridiagonal matrix; accumulates the eigenvectors into V.
function tql2(V: number[][], d: number[], e: number[]): void {
  const n = d.length;
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n && Math.abs(e[m]) > eps * tst1) m++;
    if (m > l) {
      do {
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          for (let k = 0; k < n; k++) {
            h = V[k][i + 1];
            V[k][i + 1] = s * V[k][i] + c * h;
            V[k][i] = c * V[k][i] - s * h;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }
}

/**
 * Thin SVD of A [n, d] through the Gram matrix A Aᵀ: A = U Σ Vᵀ, keeping the k largest singular
 * values above a relative floor. Right singular vectors (the directions in hidden space) are rows.
 * `spectrum` holds every singular value (descending, negatives of rounding clipped to 0), whatever k.
 */
export function svd(a: Mat, k = Math.min(a.rows, a.cols)): { s: Float64Array; u: Mat; v: Mat; spectrum: Float64Array } {
  const { values, vectors } = symmetricEigen(gramRows(a));
  const floor = Math.max(values[0], 0) * 1e-12;
  const keep = Math.min(k, values.filter((x) => x > floor).length);
  const s = new Float64Array(keep);
  const u = mat(keep, a.rows);
  const v = mat(keep, a.cols);
  for (let j = 0; j < keep; j++) {
    s[j] = Math.sqrt(values[j]);
    u.data.set(vectors.data.subarray(j * a.rows, (j + 1) * a.rows), j * a.rows);
    // v_j = Aᵀ u_j / σ_j
    for (let i = 0; i < a.rows; i++) {
      const ui = u.data[j * a.rows + i] / s[j];
      if (ui === 0) continue;
      for (let c = 0; c < a.cols; c++) v.data[j * a.cols + c] += ui * a.data[i * a.cols + c];
    }
  }
  return { s, u, v, spectrum: values.map((x) => Math.sqrt(Math.max(0, x))) };
}

/** Cosines of the principal angles between span(a) and span(b) (rows orthonormalised first), descending. */
export function principalCosines(a: number[][], b: number[][]): number[] {
  const ortho = (vs: number[][]) => {
    const m = mat(vs.length, vs[0].length, vs.flat());
    const { v } = svd(m);
    return Array.from({ length: v.rows }, (_, i) => Array.from(v.data.subarray(i * v.cols, (i + 1) * v.cols)));
  };
  const qa = ortho(a);
  const qb = ortho(b);
  const m = mat(qa.length, qb.length, qa.flatMap((x) => qb.map((y) => dot(x, y))));
  const { s } = svd(m);
  // svd drops zero singular values: those angles are right angles.
  return Array.from({ length: Math.min(qa.length, qb.length) }, (_, i) => Math.min(1, s[i] ?? 0));
}
