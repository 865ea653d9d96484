// `npm run demo -- --no-editor` as a user sees it in a terminal (a pseudo-terminal from util-linux's
// `script`): a summary that fits on a screen, progress rewritten on one line, the details in the file it names.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO, tempDir } from '../support/paths';

test('the demo prints a screenful on a terminal and names the file with every command\u2019s full output', () => {
  const cache = tempDir('demo');
  const command = `${JSON.stringify(process.execPath)} --import tsx scripts/demo.ts --no-editor`;
  const r = spawnSync('script', ['-qec', command, '/dev/null'], { cwd: REPO, encoding: 'utf8', env: { ...process.env, REFUSAL_LENS_CACHE: cache, COLUMNS: '100', LINES: '40' } });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const lines = r.stdout.split('\n');
  assert.ok(lines.length <= 30, `${lines.length} lines:\n${r.stdout}`);
  // Progress was shown, rewritten in place rather than one line per prompt.
  assert.match(r.stdout, /\r\x1b\[K {2}… Prompt 64 of 64/);
  const details = path.join(cache, 'demo-output.txt');
  assert.ok(r.stdout.includes(details), 'the summary names the details file');
  const full = readFileSync(details, 'utf8');
  assert.equal(full.match(/^> /gm)?.length, 64, 'every prompt\u2019s completions are in the details file');
  assert.match(r.stdout, /refusal rate: baseline \d/);
});
