// The .vsix a user installs: built offline with vsce, it holds the bundles and onnxruntime-node's
// native binding, and its engine runs on its own (unpacked, away from the repo's node_modules).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fixture } from './support/fixtures';
import { REPO, tempDir } from './support/paths';

test('the package script builds a .vsix whose bundled engine runs doctor on its own', { timeout: 300_000 }, () => {
  const out = tempDir('vsix');
  const vsix = path.join(out, 'refusal-lens.vsix');
  execFileSync(process.execPath, [path.join(REPO, 'scripts', 'build.mjs'), '--production'], { cwd: REPO, stdio: 'pipe' });
  execFileSync(process.execPath, [path.join(REPO, 'node_modules', '@vscode', 'vsce', 'vsce'), 'package', '--allow-missing-repository', '--out', vsix], {
    cwd: REPO,
    stdio: 'pipe',
  });
  assert.ok(existsSync(vsix));
  const unpacked = path.join(out, 'unpacked');
  execFileSync('unzip', ['-q', vsix, '-d', unpacked]);
  const ext = path.join(unpacked, 'extension');
  assert.deepEqual(readdirSync(path.join(ext, 'dist')).sort(), ['cli.js', 'engine.js', 'extension.js']);
  assert.ok(existsSync(path.join(ext, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', 'linux', 'x64', 'onnxruntime_binding.node')));
  assert.ok(!existsSync(path.join(ext, 'node_modules', 'onnxruntime-web')), 'transformers.js is bundled; onnxruntime-web must not ship');
  assert.ok(!existsSync(path.join(ext, 'src')), 'sources do not ship');
  const fx = fixture({ style: 'torch', dtype: 'fp32' });
  const r = spawnSync(process.execPath, [path.join(ext, 'dist', 'cli.js'), 'doctor', '--model', fx.dir, '--json', '--cache-dir', tempDir('vsix-cache')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).ok, true);
});
