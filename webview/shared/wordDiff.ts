// Word-level diff (words and the spaces between them, diffed with jsdiff's Myers algorithm under a
// time limit), for showing how a steered completion differs from the baseline.
import { diffArrays } from 'diff';

export interface DiffPart {
  text: string;
  kind: 'same' | 'ins' | 'del';
}

const words = (s: string) => s.split(/(\s+)/).filter((w) => w.length > 0);

/**
 * A diff taking longer is given up and the texts shown undiffed rather than keep the panel busy
 * (Myers is O((N+M)·D): 1,500-word answers that differ in a few places take a few tens of ms, two
 * wholly different ones (nothing to see in a diff anyway) about 6 s on a loaded 2-core machine).
 */
export const DIFF_TIMEOUT_MS = 1000;

/**
 * Parts that turn `before` into `after`: 'del' only in before, 'ins' only in after, adjacent parts
 * of a kind merged. Undefined when the diff takes longer than `timeoutMs` (see DIFF_TIMEOUT_MS).
 */
export function wordDiff(before: string, after: string, timeoutMs = DIFF_TIMEOUT_MS): DiffPart[] | undefined {
  const changes = diffArrays(words(before), words(after), { timeout: timeoutMs });
  if (!changes) return undefined;
  const raw: DiffPart[] = changes.flatMap((c) => c.value.map((text) => ({ text, kind: c.added ? ('ins' as const) : c.removed ? ('del' as const) : ('same' as const) })));
  // Group each changed region (changes separated only by whitespace) into one deletion followed by
  // one insertion, which reads far better than alternating single words.
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
