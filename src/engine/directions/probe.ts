// The linear-probe baseline beside the residual-space components (Pan et al. compare the dominant
// component with a logistic-regression probe): logistic regression without intercept, as theirs, fit
// on every other prompt and scored on the rest. Per layer here; theirs pools all layers into one probe.
import type { Mat } from './linalg';

const ITERATIONS = 300;
const L2 = 1e-4;

/** Held-out accuracy of a logistic probe on the rows of `x` (NaN when a half lacks either label). */
export function probeAccuracy(x: Mat, labels: boolean[]): number {
  const train = labels.map((_, i) => i).filter((i) => i % 2 === 0);
  const test = labels.map((_, i) => i).filter((i) => i % 2 === 1);
  const both = (ix: number[]) => ix.some((i) => labels[i]) && ix.some((i) => !labels[i]);
  if (!both(train) || !both(test)) return NaN;
  const H = x.cols;
  const row = (i: number) => x.data.subarray(i * H, (i + 1) * H);
  const score = (w: Float64Array, i: number) => {
    const r = row(i);
    let s = 0;
    for (let h = 0; h < H; h++) s += w[h] * r[h];
    return s;
  };
  // Full-batch gradient descent; the logistic Hessian is at most mean‖x‖²/4, so this step is stable.
  const meanSq = train.reduce((a, i) => a + row(i).reduce((b, v) => b + v * v, 0), 0) / train.length;
  const step = 1 / (meanSq / 4 + L2);
  const w = new Float64Array(H);
  const grad = new Float64Array(H);
  for (let it = 0; it < ITERATIONS; it++) {
    grad.fill(0);
    for (const i of train) {
      const err = 1 / (1 + Math.exp(-score(w, i))) - (labels[i] ? 1 : 0);
      const r = row(i);
      for (let h = 0; h < H; h++) grad[h] += (err * r[h]) / train.length;
    }
    for (let h = 0; h < H; h++) w[h] -= step * (grad[h] + L2 * w[h]);
  }
  return test.filter((i) => score(w, i) > 0 === labels[i]).length / test.length;
}
