// The conventional runner's wiring, checked without downloading VS Code (these machines cannot):
// `vscode-test --list-configuration` resolves .vscode-test.mjs to the in-host suite, this folder
// as the extension under development, test-cli's mocha runner and the tsx loader, all of which exist.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO } from '../support/paths';

test('.vscode-test.mjs resolves to the in-host suite, this extension, the mocha runner and the tsx loader', () => {
  const r = spawnSync(process.execPath, [path.join(REPO, 'node_modules', '@vscode', 'test-cli', 'out', 'bin.mjs'), '--list-configuration'], { cwd: REPO, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const [resolved, ...more] = JSON.parse(r.stdout) as { config: { mocha: { require: string[] } }; extensionTestsPath: string; extensionDevelopmentPath: string[]; env: { VSCODE_TEST_OPTIONS: string } }[];
  assert.equal(more.length, 0);
  assert.deepEqual(resolved.extensionDevelopmentPath, [REPO]);
  assert.ok(existsSync(resolved.extensionTestsPath), resolved.extensionTestsPath);
  for (const f of resolved.config.mocha.require) assert.ok(existsSync(f), f);
  const { files } = JSON.parse(resolved.env.VSCODE_TEST_OPTIONS) as { files: string[] };
  assert.deepEqual(files, [path.join(REPO, 'test', 'host', 'inHost', 'extension.test.ts')]);
});
