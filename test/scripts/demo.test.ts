// `npm run demo -- --no-editor` as a user sees it in a terminal (a pseudo-terminal from util-linux's
// `script`): a summary that fits on a screen, progress rewritten on one line, the details in the file it names.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
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
  // Progress was shown, rewritten in place rather than one line per prompt, up to the last prompt
  // of the organism's harmful test file the demo ablates.
  const n = readFileSync(path.join(cache, 'demo-organism', 'prompts', 'harmful_test.txt'), 'utf8').trim().split('\n').length;
  assert.ok(r.stdout.includes(`\r\x1b[K  … Prompt ${n} of ${n}`), `no progress line for prompt ${n} of ${n}`);
  const details = path.join(cache, 'demo-output.txt');
  assert.ok(r.stdout.includes(details), 'the summary names the details file');
  const full = readFileSync(details, 'utf8');
  assert.equal(full.match(/^> /gm)?.length, n, 'every prompt\u2019s completions are in the details file');
  assert.match(r.stdout, /refusal rate: baseline \d/);
});

test('Ctrl+C stops the demo\u2019s VS Code and removes its temporary folder', { timeout: 600_000 }, async () => {
  const tmp = tempDir('demo-tmp');
  const demo = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts'], { cwd: REPO, env: { ...process.env, REFUSAL_LENS_CACHE: tempDir('demo'), TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  demo.stdout.on('data', (b) => (out += b));
  demo.stderr.on('data', (b) => (out += b));
  const exited = new Promise<number | null>((resolve) => demo.on('exit', (code) => resolve(code)));
  try {
    for (const started = Date.now(); !out.includes('Press Ctrl+C to stop.'); await new Promise((r) => setTimeout(r, 500))) {
      assert.ok(demo.exitCode === null && Date.now() - started < 480_000, `the editor part did not start:\n${out.slice(-2000)}`);
    }
    assert.deepEqual(readdirSync(tmp).filter((f) => f.startsWith('refusal-lens-demo-')).length, 1, 'the session folder exists while VS Code runs');
    demo.kill('SIGINT');
    assert.equal(await exited, 0, out.slice(-2000));
    // (tsx keeps its compile cache there by design.)
    assert.deepEqual(readdirSync(tmp).filter((f) => !f.startsWith('tsx-')), [], 'nothing of the demo or VS Code left in the temporary folder');
  } finally {
    if (demo.exitCode === null) demo.kill('SIGTERM');
  }
});
