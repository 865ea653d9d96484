// Word-level diff (longest common subsequence over words and the spaces between them), for showing
// how a steered completion differs from the baseline.

export interface DiffPart {
  text: string;
  kind: 'same' | 'ins' | 'del';
}

const words = (s: string) => s.split(/(\s+)/).filter((w) => w.length > 0);

/** Beyond this many word pairs the quadratic table is not worth it; callers show the texts undiffed. */
export const MAX_DIFF_CELLS = 4_000_000;

/**
 * Parts that turn `before` into `after`: 'del' only in before, 'ins' only in after, adjacent parts
 * of a kind merged. Undefined when the texts are too long to diff (see MAX_DIFF_CELLS).
 */
export function wordDiff(before: string, after: string): DiffPart[] | undefined {
  const a = words(before);
  const b = words(after);
  if (a.length * b.length > MAX_DIFF_CELLS) return undefined;
  // lcs[i][j]: LCS length of a[i..] and b[j..].
  const lcs = Array.from({ length: a.length + 1 }, () => new Uint32Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--) for (let j = b.length - 1; j >= 0; j--) lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const parts: DiffPart[] = [];
  const push = (text: string, kind: DiffPart['kind']) => {
    const last = parts.at(-1);
    if (last?.kind === kind) last.text += text;
    else parts.push({ text, kind });
  };
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      push(a[i], 'same');
      i++;
      j++;
    } else if (lcs[i + 1][j] >= lcs[i][j + 1]) push(a[i++], 'del');
    else push(b[j++], 'ins');
  }
  while (i < a.length) push(a[i++], 'del');
  while (j < b.length) push(b[j++], 'ins');
  return parts;
}
