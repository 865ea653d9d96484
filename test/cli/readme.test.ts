// Every command the README shows runs as written, in order, through the real CLI: each ```sh block's
// `refusal-lens`, `cd` and `cat` lines run in one shell in a scratch folder, with `refusal-lens` on PATH as
// `npm link` would put it. npm and node lines (install, test, package: minutes each, and run by CI
// anyway) are checked to name a real script instead.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO, tempDir } from '../support/paths';

const README = readFileSync(path.join(REPO, 'README.md'), 'utf8');
const SCRIPTS: Record<string, string> = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')).scripts;

/** Each shell block's commands: comments stripped, one command per line. */
function shellCommands(markdown: string): string[] {
  return [...markdown.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].flatMap((m) =>
    m[1]
      .split('\n')
      .map((line) => line.replace(/\s+#.*$/, '').replace(/^#.*$/, '').trim())
      .filter(Boolean),
  );
}

/** Whether an npm or node line names something that exists; undefined for lines the test runs. */
function setupProblem(command: string): string | undefined {
  for (const part of command.split('&&').map((p) => p.trim())) {
    const run = /^npm run (\S+)/.exec(part);
    if (run) {
      if (!SCRIPTS[run[1]]) return `no npm script '${run[1]}'`;
    } else if (/^npm (install|ci|test|link)\b/.test(part)) {
      if (part.startsWith('npm test') && !SCRIPTS.test) return 'no npm test script';
    } else if (part.startsWith('node ')) {
      const file = part.split(/\s+/)[1];
      if (!existsSync(path.join(REPO, file))) return `no file ${file}`;
    } else return `'${part}' is neither run by this test nor a known setup command`;
  }
  return undefined;
}

const runs = (c: string) => c.startsWith('refusal-lens ') || c === 'refusal-lens' || c.startsWith('cd ') || c.startsWith('cat ');

test('README: every shell command runs as written, in order', () => {
  const commands = shellCommands(README);
  const run = commands.filter(runs);
  assert.ok(run.filter((c) => c.startsWith('refusal-lens')).length >= 10, `too few refusal-lens commands found in the README: ${run.join('\n')}`);
  for (const c of commands.filter((c) => !runs(c))) assert.equal(setupProblem(c), undefined, c);

  const dir = tempDir('readme');
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  const shim = path.join(bin, 'refusal-lens');
  writeFileSync(shim, `#!/bin/sh\nexec "${process.execPath}" "${path.join(REPO, 'bin', 'refusal-lens.js')}" "$@"\n`);
  chmodSync(shim, 0o755);
  const home = path.join(dir, 'home');
  mkdirSync(home);
  // Each command is echoed first, so a failure names it; the shell stops at the first failing command.
  const script = ['set -e', ...run.map((c) => `printf '%s\\n' ${JSON.stringify(`$ ${c}`).replace(/\$/g, '\\$')} >&2\n${c}`)].join('\n');
  const r = spawnSync('bash', ['-c', script], {
    cwd: home,
    encoding: 'utf8',
    env: { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH}`, HOME: home, TMPDIR: dir, REFUSAL_LENS_CACHE: path.join(dir, 'cache') },
  });
  const ran = r.stderr.split('\n').filter((l) => l.startsWith('$ '));
  assert.equal(r.status, 0, `failed at: ${ran.at(-1)}\n${r.stderr.slice(-3000)}\n${r.stdout.slice(-2000)}`);
  assert.equal(ran.length, run.length);
  // The README moves to a scratch folder before any example writes a file: nothing lands where the user started.
  assert.deepEqual(readdirSync(home), [], 'the examples wrote into the folder they were started in');
});
