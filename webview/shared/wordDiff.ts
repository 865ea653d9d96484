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
  // Walk the table into a raw edit script, then group each changed region (changes separated only by
  // whitespace) into one deletion followed by one insertion, which reads far better than
  // alternating single words.
  const raw: DiffPart[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      raw.push({ text: a[i], kind: 'same' });
      i++;
      j++;
    } else if (lcs[i + 1][j] >= lcs[i][j + 1]) raw.push({ text: a[i++], kind: 'del' });
    else raw.push({ text: b[j++], kind: 'ins' });
  }
  while (i < a.length) raw.push({ text: a[i++], kind: 'del' });
  while (j < b.length) raw.push({ text: b[j++], kind: 'ins' });

  const parts: DiffPart[] = [];
  const push = (text: string, kind: DiffPart['kind']) => {
    if (!text) return;
    const last = parts.at(-1);
    if (last?.kind === kind) last.text += text;
    else parts.push({ text, kind });
  };
  let del = '';
  let ins = '';
  const flush = () => {
    push(del, 'del');
    push(ins, 'ins');
    del = ins = '';
  };
  raw.forEach((p, k) => {
    const inChange = del || ins;
    // Words and whitespace alternate, so the part after a space is a word.
    const nextChanged = k + 1 < raw.length && raw[k + 1].kind !== 'same';
    if (p.kind === 'del') del += p.text;
    else if (p.kind === 'ins') ins += p.text;
    else if (inChange && /^\s+$/.test(p.text) && nextChanged) {
      del += p.text;
      ins += p.text;
    } else {
      flush();
      push(p.text, 'same');
    }
  });
  flush();
  return parts;
}
