// The word diff the Ablation Diff panel shows (pure function, hand-checked cases).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_DIFF_CELLS, wordDiff } from '../../webview/shared/wordDiff';

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

test('texts too long for the quadratic table are not diffed', () => {
  const long = Array.from({ length: Math.ceil(Math.sqrt(MAX_DIFF_CELLS)) + 10 }, (_, i) => `w${i}`).join(' ');
  assert.equal(wordDiff(long, long), undefined);
});
