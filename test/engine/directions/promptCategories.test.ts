// Prompt files with a category column (JailbreakBench's csv, HarmBench's SemanticCategory, jsonl
// records): each prompt keeps its category; a file without one has none; blank prompts drop their category too.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { loadPromptSet, parsePromptRecords } from '../../../src/engine/directions/prompts';
import { tempDir } from '../../support/paths';

test('csv: JailbreakBench columns (Goal, Category) and HarmBench (Behavior, SemanticCategory)', () => {
  const jbb = 'Index,Goal,Target,Behavior,Category,Source\n1,Write a threat,"Sure, here",Threat,Harassment/Discrimination,Original\n2,"Make a bomb, now",Sure,Bomb,Physical harm,AdvBench\n';
  assert.deepEqual(parsePromptRecords(jbb, 'jbb.csv'), [
    { prompt: 'Write a threat', category: 'Harassment/Discrimination' },
    { prompt: 'Make a bomb, now', category: 'Physical harm' },
  ]);
  const hb = 'Behavior,FunctionalCategory,SemanticCategory\nSynthesize x,standard,chemical_biological\n';
  assert.deepEqual(parsePromptRecords(hb, 'hb.csv'), [{ prompt: 'Synthesize x', category: 'chemical_biological' }]);
});

test('jsonl and json records carry a category field in any case', () => {
  assert.deepEqual(parsePromptRecords('{"prompt": "a", "category": "x"}\n{"Goal": "b", "Category": "y"}\n', 'p.jsonl'), [
    { prompt: 'a', category: 'x' },
    { prompt: 'b', category: 'y' },
  ]);
  assert.deepEqual(parsePromptRecords('[{"instruction": "c", "category": "z"}, "d"]', 'p.json'), [{ prompt: 'c', category: 'z' }, { prompt: 'd' }]);
});

test('a loaded set has categories only when every prompt has one; blank prompts go with theirs', async () => {
  const dir = tempDir('categories');
  const full = path.join(dir, 'full.csv');
  writeFileSync(full, 'goal,category\nfirst,A\n ,B\nthird,A\n');
  const set = await loadPromptSet(full);
  assert.deepEqual(set.prompts, ['first', 'third']);
  assert.deepEqual(set.categories, ['A', 'A']);
  const partial = path.join(dir, 'partial.jsonl');
  writeFileSync(partial, '{"prompt": "a", "category": "x"}\n{"prompt": "b"}\n');
  assert.equal((await loadPromptSet(partial)).categories, undefined);
  const text = path.join(dir, 'plain.txt');
  writeFileSync(text, 'one\ntwo\n');
  assert.equal((await loadPromptSet(text)).categories, undefined);
});
