// The word diff the Ablation Diff panel shows (pure function, hand-checked cases).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { wordDiff } from '../../webview/shared/wordDiff';

const show = (before: string, after: string) =>
  wordDiff(before, after)!
    .map((p) => (p.kind === 'same' ? p.text : p.kind === 'del' ? `[-${p.text}-]` : `{+${p.text}+}`))
    .join('');

test('identical texts are one unchanged part', () => {
  assert.deepEqual(wordDiff('sure, here is my answer.', 'sure, here is my answer.'), [{ text: 'sure, here is my answer.', kind: 'same' }]);
});

test('a changed region reads as one deletion then one insertion, not alternating words', () => {
  assert.equal(show('i cannot help with that.', 'sure, here is my answer.'), '[-i cannot help with that.-]{+sure, here is my answer.+}');
});

test('common words stay plain around a change', () => {
  assert.equal(show('the cat sat on the mat', 'the dog sat on the mat'), 'the [-cat-]{+dog+} sat on the mat');
  assert.equal(show('a b c', 'a b c d'), 'a b c{+ d+}');
  assert.equal(show('a b c d', 'a d'), 'a [-b c -]d');
});

test('every input word is kept: before = same + del, after = same + ins', () => {
  const before = 'I cannot help with making weapons. Please ask something else.';
  const after = 'Sure, here is how to make something else entirely.';
  const parts = wordDiff(before, after)!;
  assert.equal(parts.filter((p) => p.kind !== 'ins').map((p) => p.text).join(''), before);
  assert.equal(parts.filter((p) => p.kind !== 'del').map((p) => p.text).join(''), after);
});

/** A 1,500-word answer (the length Arditi et al.'s 512-token generations and long answers reach). */
const answer = (seed: number, n = 1500) => Array.from({ length: n }, (_, i) => `w${(i * 7919 + seed * 104729) % 997}`).join(' ');

test('1,500-word answers are diffed (the old quadratic table gave up past 4M cells): a few changed words show as exactly those', () => {
  const before = answer(1);
  const words = before.split(' ');
  const after = words.map((w, i) => (i % 300 === 150 ? 'CHANGED' : w)).join(' ');
  const parts = wordDiff(before, after)!;
  assert.ok(parts, 'diffed');
  assert.deepEqual(parts.filter((p) => p.kind === 'ins').map((p) => p.text), ['CHANGED', 'CHANGED', 'CHANGED', 'CHANGED', 'CHANGED']);
  assert.deepEqual(parts.filter((p) => p.kind === 'del').map((p) => p.text), words.filter((_, i) => i % 300 === 150));
  assert.equal(parts.filter((p) => p.kind !== 'ins').map((p) => p.text).join(''), before);
  assert.equal(parts.filter((p) => p.kind !== 'del').map((p) => p.text).join(''), after);
});

test('two unrelated 1,500-word answers have no size limit either, and a diff past its time limit gives up (shown undiffed) instead of blocking the panel', () => {
  const [a, b] = [answer(1), answer(2).replaceAll('w', 'v')];
  // Every word differs: the worst case, seconds on a loaded machine (timings belong in the bench, so a generous limit here).
  const parts = wordDiff(a, b, 60_000)!;
  assert.ok(parts, 'diffed');
  assert.equal(parts.filter((p) => p.kind !== 'ins').map((p) => p.text).join(''), a);
  assert.equal(parts.filter((p) => p.kind !== 'del').map((p) => p.text).join(''), b);
  // jsdiff checks the clock between edit-distance rounds: a 0 ms limit on texts this far apart gives up.
  assert.equal(wordDiff(answer(1, 5000), answer(3, 5000).replaceAll('w', 'v'), 0), undefined);
});
