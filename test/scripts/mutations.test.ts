// The mutation check (scripts/mutations.mjs) names code by its text: when the code moves, a mutant
// would stop applying and the check would silently lose it. Every mutant must still apply once.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { REPO } from '../support/paths';

test('every mutant of scripts/mutations.mjs applies to the current code, and its test files exist', () => {
  const r = spawnSync(process.execPath, [path.join(REPO, 'scripts', 'mutations.mjs'), '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^\d+ mutants apply/);
});
