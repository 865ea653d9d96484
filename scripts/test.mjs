// `npm test`: typecheck, lint, build, then every test/**/*.test.ts under node's test runner (with
// tsx for TypeScript). Node 20's --test does not expand globs, so the files are listed here.
// Extra arguments filter test files by substring: `npm test -- runtime`.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const filters = process.argv.slice(2);

function step(name, cmd, args) {
  console.log(`\n== ${name}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
  if (r.status !== 0) {
    console.error(`\n${name} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status || 1);
  }
}

function testFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) return testFiles(p);
    return d.name.endsWith('.test.ts') ? [path.relative(root, p)] : [];
  });
}

const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
if (filters.length === 0) {
  step('typecheck', npx, ['tsc', '--noEmit', '-p', '.']);
  step('lint', npx, ['eslint', '.']);
}
step('build', process.execPath, ['scripts/build.mjs']);
const files = testFiles(path.join(root, 'test')).filter((f) => filters.every((x) => f.includes(x)));
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
// spec for people, TAP to a file for the totals printed as the closing line.
const artifacts = path.join(root, '.test-artifacts');
mkdirSync(artifacts, { recursive: true });
const tap = path.join(artifacts, 'results.tap');
const reporters = ['--test-reporter=spec', '--test-reporter-destination=stdout', '--test-reporter=tap', `--test-reporter-destination=${tap}`];
console.log(`\n== tests (${files.length} files)`);
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', ...reporters, ...files], { cwd: root, stdio: 'inherit' });
const count = (key) => Number(/^# (\w+) (\d+)$/m.exec(readFileSync(tap, 'utf8').split('\n').filter((l) => l.startsWith(`# ${key} `)).join('\n'))?.[2] ?? 0);
console.log(`\n${count('pass')} passed, ${count('fail')} failed, ${count('skipped')} skipped`);
process.exit(r.status ?? 1);
