// `npm test`: typecheck, lint, build, then every test/**/*.test.ts under node's test runner (with
// tsx for TypeScript), stopping at the first step that fails. Node 20's --test does not expand globs,
// so the files are listed here. Test files run in parallel, each in its own process (at most 4, so a
// small CI machine is not swamped by several engines loading models at once); the tests inside a
// file run in order. The closing lines are node's own summary (`# pass N`, `# fail N`, ...).
//
//   npm test                    everything
//   npm test -- runtime cli     only test files whose path contains every word (no typecheck/lint)
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const filters = process.argv.slice(2);
const bin = (pkg, file) => path.join(root, 'node_modules', pkg, file);

function step(name, args) {
  console.log(`\n== ${name}`);
  const started = Date.now();
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`\n${name} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status || 1);
  }
  console.log(`${name}: ok (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

const IN_HOST = path.join(root, 'test', 'host', 'inHost');

function testFiles(dir) {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((d) => {
      const p = path.join(dir, d.name);
      // test/host/inHost runs inside VS Code's extension host, under `npx vscode-test` (.vscode-test.mjs).
      if (d.isDirectory()) return p === IN_HOST ? [] : testFiles(p);
      return d.name.endsWith('.test.ts') ? [path.relative(root, p)] : [];
    })
    .sort();
}

if (filters.length === 0) {
  step('typecheck', [bin('typescript', 'bin/tsc'), '--noEmit', '-p', '.']);
  step('lint', [bin('eslint', 'bin/eslint.js'), '.']);
}
step('build', ['scripts/build.mjs']);
const files = testFiles(path.join(root, 'test')).filter((f) => filters.every((x) => f.includes(x)));
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
// spec for people on stdout, TAP to a file for the summary printed last.
const artifacts = path.join(root, '.test-artifacts');
mkdirSync(artifacts, { recursive: true });
const tap = path.join(artifacts, 'results.tap');
const concurrency = Math.max(1, Math.min(4, os.availableParallelism()));
const reporters = ['--test-reporter=spec', '--test-reporter-destination=stdout', '--test-reporter=tap', `--test-reporter-destination=${tap}`];
console.log(`\n== tests (${files.length} files, ${concurrency} at a time)`);
// Tests never read or fill the user's Hugging Face cache (models a test downloads, or finds there by chance).
const hfHome = mkdtempSync(path.join(os.tmpdir(), 'refusal-lens-hf-home-'));
const env = { ...process.env, HF_HOME: hfHome, HF_HUB_CACHE: path.join(hfHome, 'hub') };
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...reporters, ...files], { cwd: root, stdio: 'inherit', env });
rmSync(hfHome, { recursive: true, force: true });
let summary = [];
try {
  summary = readFileSync(tap, 'utf8')
    .split('\n')
    .filter((l) => /^# (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) /.test(l));
} catch {
  summary = ['# no TAP output: the test runner did not start'];
}
const faults = faultCounts(tap);
if (faults.length) console.log(`\n== fault-injection cases per category (test/faults)\n${faults.join('\n')}`);
console.log(`\n${summary.join('\n')}`);
process.exit(r.status ?? 1);

/**
 * Passing / failing / skipped test cases under each top-level suite named "faults N: ..." (the
 * fault-injection suite, one category per suite; a category may span files). Leaf tests are the
 * result lines whose YAML block does not say `type: 'suite'`.
 */
function faultCounts(tapFile) {
  let lines;
  try {
    lines = readFileSync(tapFile, 'utf8').split('\n');
  } catch {
    return [];
  }
  const counts = new Map();
  let category;
  lines.forEach((line, i) => {
    const top = /^# Subtest: (faults \d+: .*)$/.exec(line) ?? (/^# Subtest: /.test(line) ? [line, undefined] : undefined);
    if (top) category = top[1];
    const result = /^(\s+)(not ok|ok) \d+ - .*?( # (SKIP|TODO)\b.*)?$/.exec(line);
    if (!category || !result) return;
    const block = [];
    for (let j = i + 1; j < lines.length && !/^\s*\.\.\.$/.test(lines[j]); j++) block.push(lines[j]);
    if (block.some((l) => /^\s*type: 'suite'$/.test(l))) return;
    const c = counts.get(category) ?? { pass: 0, fail: 0, skip: 0 };
    if (result[3]) c.skip++;
    else if (result[2] === 'ok') c.pass++;
    else c.fail++;
    counts.set(category, c);
  });
  return [...counts]
    .sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))
    .map(([name, c]) => `${name.padEnd(52)} ${String(c.pass).padStart(3)} passed, ${c.fail} failed${c.skip ? `, ${c.skip} skipped` : ''}`);
}
