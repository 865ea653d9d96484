// `refusal-lens space --labels`: the label source is chosen on the command line, recorded in the
// space file and the JSON summary, and bad choices are refused before any model loads.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO, tempDir } from '../support/paths';

const root = tempDir('cli-space-labels');
const cli = (...args: string[]) => spawnSync(process.execPath, [path.join(REPO, 'bin', 'refusal-lens.js'), ...args], { encoding: 'utf8', env: { ...process.env, REFUSAL_LENS_CACHE: path.join(root, 'cache'), OMP_NUM_THREADS: '1' } });

test('space --labels: aligned-score (default) or base-first-token, recorded in the file; bad values and a missing --base are usage errors', () => {
  const model = path.join(root, 'aligned');
  const base = path.join(root, 'base');
  assert.equal(cli('organism', '--out', model, '--seed', '5').status, 0);
  assert.equal(cli('organism', '--out', base, '--seed', '5', '--variant', 'base').status, 0);
  const prompts = path.join(model, 'prompts', 'harmful_train.txt');
  const run = (out: string, ...extra: string[]) => cli('space', '--model', model, '--base', base, '--prompts', prompts, '--components', '2', '--out', path.join(root, out), '--json', ...extra);

  const first = run('first.json', '--labels', 'base-first-token');
  assert.equal(first.status, 0, first.stderr);
  assert.equal(JSON.parse(first.stdout).labels.source, 'base-first-token');
  const file = JSON.parse(readFileSync(path.join(root, 'first.json'), 'utf8'));
  assert.equal(file.labels.source, 'base-first-token');
  assert.match(file.labels.note, /^the base model refuses none of/);

  const plain = run('plain.json');
  assert.equal(plain.status, 0, plain.stderr);
  assert.equal(JSON.parse(readFileSync(path.join(root, 'plain.json'), 'utf8')).labels.source, 'aligned-score');

  const bad = run('bad.json', '--labels', 'judge');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--labels must be one of aligned-score, base-first-token, got 'judge'/);
  const noBase = cli('space', '--model', model, '--prompts', prompts, '--labels', 'base-first-token', '--out', path.join(root, 'x.json'));
  assert.equal(noBase.status, 2);
  assert.match(noBase.stderr, /--labels base-first-token .* needs --base/);
});
