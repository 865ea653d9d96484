// Mutation check of the methods' choices (issue 11): each mutant below is one small semantic change
// a plausible bug would make. The script copies the repository's files once into a scratch folder
// (node_modules and ../shared linked), runs the named test files unmutated (they must pass), then
// applies each mutant alone, runs its test files, restores the file, and reports whether a test
// failed (caught) or all passed (survived). Exit status 1 when a mutant survives.
//
//   node scripts/mutations.mjs                  every mutant
//   node scripts/mutations.mjs select-highest   only the named mutants
//   node scripts/mutations.mjs --list           the mutants and their test files
//   node scripts/mutations.mjs --check          only check that every mutant still applies (a test runs it)
//
// A mutant whose text is not found exactly once stops the run: the code moved, update the mutant.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const D = 'test/engine/directions/';

/** id, what the bug is, file, [text, replacement] edits, test files that must catch it. */
const MUTANTS = [
  // Paper A: selection (extract.ts)
  { id: 'select-highest', what: 'selection picks the highest bypass score', file: 'src/engine/directions/extract.ts', edits: [['(!best || c.bypass < best.bypass)', '(!best || c.bypass > best.bypass)']], tests: [`${D}selection.test.ts`] },
  { id: 'no-kl-filter', what: 'no KL filter', file: 'src/engine/directions/extract.ts', edits: [["    { name: `KL > ${klMax}`, fails: (c) => c.kl > klMax,", "    { name: `KL > ${klMax}`, fails: () => false,"]], tests: [`${D}selection.test.ts`] },
  { id: 'no-induce-filter', what: 'no induce filter', file: 'src/engine/directions/extract.ts', edits: [['fails: (c) => c.induce < induceMin,', 'fails: () => false,']], tests: [`${D}selection.test.ts`] },
  { id: 'prune-gt', what: 'layer pruning >= turned into >', file: 'src/engine/directions/extract.ts', edits: [['fails: (c) => c.layer >= pruneFrom,', 'fails: (c) => c.layer > pruneFrom,']], tests: [`${D}selection.test.ts`] },
  { id: 'means-early', what: 'means read one position early', file: 'src/engine/directions/extract.ts', edits: [['const row = (len - n + p) * H;', 'const row = (len - n + p - 1) * H;']], tests: [`${D}positions.test.ts`] },
  {
    id: 'val-first-quarter',
    what: 'validation taken from the first quarter',
    file: 'src/engine/directions/prompts.ts',
    edits: [
      ['set.prompts.slice(0, -n)', 'set.prompts.slice(n)'],
      ['set.prompts.slice(-n)', 'set.prompts.slice(0, n)'],
    ],
    tests: [`${D}selection.test.ts`],
  },
  // Paper A: evaluation and export
  { id: 'eval-ablate-last', what: 'evaluations ablate only the last position', file: 'src/engine/directions/evaluate.ts', edits: [["return { ablate: [d.vector], positions: 'all' };", "return { ablate: [d.vector], positions: 'last' };"]], tests: [`${D}ablation.test.ts`] },
  {
    id: 'export-skip-last-mlp',
    what: "the export skips the last layer's MLP writer",
    file: 'src/engine/directions/export.ts',
    edits: [['    if (/^steer\\/w\\d+\\/out$/.test(n.name!)) {', "    if (n.name === `steer/w${2 * info.layers}/out`) {\n      n.opType = 'Identity';\n      n.input = [n.input![0]];\n    } else if (/^steer\\/w\\d+\\/out$/.test(n.name!)) {"]],
    tests: [`${D}ablation.test.ts`],
  },
  { id: 'export-unnormalised', what: 'the export projects onto the raw (unnormalised) vector', file: 'src/engine/directions/export.ts', edits: [['const basis = vectors.map(unit);', 'const basis = vectors;']], tests: [`${D}ablation.test.ts`] },
  { id: 'score-unnormalised', what: 'per-token projections onto the raw (unnormalised) vector', file: 'src/engine/directions/score.ts', edits: [['const r = unit(direction.vector);', 'const r = direction.vector;']], tests: [`${D}projections.test.ts`] },
  { id: 'components-unnormalised', what: "a score's extra components projected unnormalised", file: 'src/engine/directions/score.ts', edits: [['u: unit(c.vector), values', 'u: c.vector, values']], tests: [`${D}projections.test.ts`] },
  // Runtime
  { id: 'position-ids-padding', what: 'position ids counting left padding (torch-style graphs)', file: 'src/engine/runtime/decoder.ts', edits: [['const all = row.map((m) => (m ? n++ : 1));', 'const all = row.map(() => n++);']], tests: [`${D}positions.test.ts`] },
  // Paper B (space.ts)
  { id: 'shift-y-minus-x', what: 'the two-model shift as Y − X instead of the least-squares map', file: 'src/engine/directions/space.ts', edits: [['decompose(linearShift(x.acts[l], yl),', 'decompose(mat(yl.rows, H, yl.data.map((v, i) => v - x.acts[l].data[i])),']], tests: [`${D}shift.test.ts`] },
  { id: 'labels-ignored', what: "the base model's first-token labels ignored (aligned score used)", file: 'src/engine/directions/space.ts', edits: [["x && labelSource === 'base-first-token' ?", "x && labelSource === 'never' ?"]], tests: [`${D}spaceLabels.test.ts`] },
  // Newer method code: the same kinds of change (order, sign, filter, position, normalisation, pooling)
  { id: 'interaction-sign', what: 'interaction: after − before instead of before − after', file: 'src/engine/directions/space.ts', edits: [['((dot(before, ck) - dot(after, ck)) / eps - dot(cj, ck))', '((dot(after, ck) - dot(before, ck)) / eps - dot(cj, ck))']], tests: [`${D}space.test.ts`, `${D}interaction.test.ts`] },
  { id: 'interaction-direct-path', what: 'interaction: the direct residual path c_j·c_k not subtracted', file: 'src/engine/directions/space.ts', edits: [['((dot(before, ck) - dot(after, ck)) / eps - dot(cj, ck))', '((dot(before, ck) - dot(after, ck)) / eps)']], tests: [`${D}space.test.ts`, `${D}interaction.test.ts`] },
  { id: 'interaction-all-positions', what: 'interaction: the step applied at every position instead of the last', file: 'src/engine/directions/space.ts', edits: [["layers: [from.layer], coefficient: 1 }], positions: 'last' }", "layers: [from.layer], coefficient: 1 }], positions: 'all' }"]], tests: [`${D}space.test.ts`, `${D}interaction.test.ts`] },
  { id: 'component-orientation', what: 'components not oriented towards refusal', file: 'src/engine/directions/space.ts', edits: [['components.push(correlation(projections(shift, c), y) < 0 ? c.map((x) => -x) : c);', 'components.push(c);']], tests: [`${D}spaceComponents.test.ts`] },
  { id: 'threshold-quantile', what: 'accuracy threshold one rank off the refusal quantile', file: 'src/engine/directions/space.ts', edits: [['.sort((a, b) => b - a)[positives - 1];', '.sort((a, b) => b - a)[positives];']], tests: [`${D}spaceComponents.test.ts`] },
  { id: 'eigen-n', what: 'eigenvalues σ²/N instead of σ²/(N − 1)', file: 'src/engine/directions/space.ts', edits: [['(x * x) / Math.max(1, n - 1)', '(x * x) / Math.max(1, n)']], tests: [`${D}space.test.ts`, `${D}shift.test.ts`] },
  { id: 'probe-on-train', what: 'probe scored on its training half', file: 'src/engine/directions/probe.ts', edits: [['.filter((i) => i % 2 === 1);', '.filter((i) => i % 2 === 0);']], tests: [`${D}probe.test.ts`] },
  { id: 'probe-sign', what: 'probe predicts refusal below 0', file: 'src/engine/directions/probe.ts', edits: [['score(w, i) > 0 === labels[i]', 'score(w, i) < 0 === labels[i]']], tests: [`${D}probe.test.ts`] },
  { id: 'judge-swapped', what: 'judge: P(safe) read as P(unsafe)', file: 'src/engine/directions/judge.ts', edits: [['const [u, s] = this.tokens.map', 'const [s, u] = this.tokens.map']], tests: [`${D}judge.test.ts`] },
  { id: 'judge-no-prompt', what: 'judge: the request left out of the judge prompt', file: 'src/engine/directions/judge.ts', edits: [[".replaceAll('{prompt}', prompt)", ".replaceAll('{prompt}', '')"]], tests: [`${D}judge.test.ts`] },
  { id: 'judge-disagree', what: 'judge: disagreement rule inverted for refusals', file: 'src/engine/directions/judge.ts', edits: [["(verdict === 'refused' && judged.unsafe)", "(verdict === 'refused' && !judged.unsafe)"]], tests: [`${D}judge.test.ts`] },
  { id: 'verdict-case', what: 'refusal substrings matched case-sensitively', file: 'src/engine/directions/verdict.ts', edits: [['return substrings.some((s) => t.includes(s.toLowerCase()));', 'return substrings.some((s) => text.includes(s));']], tests: [`${D}verdict.test.ts`] },
  { id: 'verdict-order', what: 'a looping refusal counted degenerate', file: 'src/engine/directions/verdict.ts', edits: [["if (reason === 'empty' || reason === 'no letters') return 'degenerate';", "if (reason) return 'degenerate';"]], tests: [`${D}verdict.test.ts`] },
  { id: 'verdict-repeats', what: 'a loop needs 2 repeats instead of 3', file: 'src/engine/directions/verdict.ts', edits: [['export const MIN_LOOP_REPEATS = 3;', 'export const MIN_LOOP_REPEATS = 2;']], tests: [`${D}verdict.test.ts`] },
  { id: 'intervene-layer', what: "subtract mode steers layer j's input instead of its output", file: 'src/engine/directions/intervene.ts', edits: [['    return j + 1;', '    return j;']], tests: [`${D}intervention.test.ts`] },
  { id: 'intervene-unnormalised', what: 'subtract mode uses the raw component instead of the unit one', file: 'src/engine/directions/intervene.ts', edits: [['add: components.map((c) => ({ vector: unit(c),', 'add: components.map((c) => ({ vector: c,']], tests: [`${D}intervention.test.ts`] },
  { id: 'intervene-sign', what: 'subtract mode adds α·ĉ', file: 'src/engine/directions/intervene.ts', edits: [['coefficient: -alpha }', 'coefficient: alpha }']], tests: [`${D}intervention.test.ts`] },
  { id: 'intervene-remove-all', what: 'remove mode at every position instead of the last token', file: 'src/engine/directions/intervene.ts', edits: [["if (alpha === undefined) return { ablate: components, positions: 'last' };", "if (alpha === undefined) return { ablate: components, positions: 'all' };"]], tests: [`${D}intervention.test.ts`] },
  { id: 'intervene-triggers-bottom', what: 'trigger removal drops the lowest-ranked tokens', file: 'src/engine/directions/intervene.ts', edits: [['const drop = new Set(ranked.slice(0, opts.triggers.top).flatMap(', 'const drop = new Set(ranked.slice(-opts.triggers.top).flatMap(']], tests: [`${D}intervention.test.ts`] },
  { id: 'capability-argmin', what: 'multiple choice picks the least likely choice', file: 'src/engine/directions/capability.ts', edits: [['picks.push(scores.indexOf(Math.max(...scores)));', 'picks.push(scores.indexOf(Math.min(...scores)));']], tests: [`${D}capabilityScores.test.ts`] },
  { id: 'capability-shifted-logits', what: 'log-likelihood read from the token’s own position instead of the one before', file: 'src/engine/directions/capability.ts', edits: [['logSoftmax(logits.subarray((i - 1) * V, i * V))[ids[i]]', 'logSoftmax(logits.subarray(i * V, (i + 1) * V))[ids[i]]']], tests: [`${D}capabilityScores.test.ts`] },
  { id: 'capability-mean-of-means', what: 'perplexity as the mean of per-window means instead of token-pooled', file: 'src/engine/directions/capability.ts', edits: [['    nll -= ll.sum;\n    tokens += ll.tokens;', '    nll -= ll.sum / ll.tokens;\n    tokens += 1;']], tests: [`${D}capabilityScores.test.ts`] },
];

/** Test files that run the built CLI (bin/refusal-lens.js) need the mutated source built first. */
const needsBuild = (cwd, files) => files.some((f) => readFileSync(path.join(cwd, f), 'utf8').includes('refusal-lens.js'));

function run(cwd, files, env) {
  const started = Date.now();
  if (needsBuild(cwd, files)) {
    const b = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd, env, encoding: 'utf8' });
    if (b.status !== 0) return { status: b.status ?? 1, signal: b.signal, seconds: (Date.now() - started) / 1000, failed: ['build failed'], tail: `${b.stdout}${b.stderr}`.slice(-3000) };
  }
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=tap', ...files], { cwd, env, encoding: 'utf8', maxBuffer: 1 << 28, timeout: 30 * 60 * 1000 });
  const failed = [...(r.stdout ?? '').matchAll(/^\s*not ok \d+ - (.*)$/gm)].map((m) => m[1]).filter((name) => !/^(test\/|.*\.test\.ts$)/.test(name));
  return { status: r.status, signal: r.signal, seconds: (Date.now() - started) / 1000, failed, tail: `${r.stdout ?? ''}${r.stderr ?? ''}`.slice(-3000) };
}

function apply(dir, m) {
  let text = readFileSync(path.join(dir, m.file), 'utf8');
  for (const [from, to] of m.edits) {
    const count = text.split(from).length - 1;
    if (count !== 1) throw new Error(`${m.id}: ${m.file}: the text ${JSON.stringify(from)} occurs ${count} times (expected once); update the mutant`);
    text = text.replace(from, () => to);
  }
  return text;
}

const args = process.argv.slice(2);
if (args.includes('--list')) {
  for (const m of MUTANTS) console.log(`${m.id.padEnd(26)} ${m.file.padEnd(36)} ${m.tests.join(' ')}\n${''.padEnd(26)} ${m.what}`);
  process.exit(0);
}
/** Every mutant's edits must apply, and its test files exist, before anything runs. */
const checkAll = (dir, mutants) => {
  for (const m of mutants) {
    apply(dir, m);
    for (const t of m.tests) if (!existsSync(path.join(dir, t))) throw new Error(`${m.id}: no test file ${t}`);
  }
};
if (args.includes('--check')) {
  checkAll(root, MUTANTS);
  console.log(`${MUTANTS.length} mutants apply`);
  process.exit(0);
}
const unknown = args.filter((a) => !MUTANTS.some((m) => m.id === a));
if (unknown.length) {
  console.error(`unknown mutants: ${unknown.join(', ')} (see --list)`);
  process.exit(2);
}
const chosen = args.length ? MUTANTS.filter((m) => args.includes(m.id)) : MUTANTS;

// The repository's files as git sees them (tracked and new, not ignored), copied once.
const base = mkdtempSync(path.join(os.tmpdir(), 'refusal-lens-mutants-'));
const scratch = path.join(base, 'repo');
const listed = spawnSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: root, encoding: 'utf8' }).stdout.split('\0').filter(Boolean);
for (const f of listed) {
  if (!existsSync(path.join(root, f))) continue;
  mkdirSync(path.dirname(path.join(scratch, f)), { recursive: true });
  cpSync(path.join(root, f), path.join(scratch, f));
}
symlinkSync(path.join(root, 'node_modules'), path.join(scratch, 'node_modules'));
if (existsSync(path.join(root, '..', 'shared'))) symlinkSync(path.resolve(root, '..', 'shared'), path.join(base, 'shared'));
checkAll(scratch, chosen);

const tmp = path.join(base, 'tmp');
const env = { ...process.env, OMP_NUM_THREADS: '1', TMPDIR: tmp };
const fresh = () => {
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
};
const rows = [];
try {
  const files = [...new Set(chosen.flatMap((m) => m.tests))];
  fresh();
  console.log(`baseline: ${files.join(' ')}`);
  const clean = run(scratch, files, env);
  if (clean.status !== 0) {
    console.error(`the test files fail without any mutation (exit ${clean.status ?? clean.signal}): ${clean.failed.join('; ')}\n${clean.tail}`);
    process.exit(2);
  }
  console.log(`baseline passes (${clean.seconds.toFixed(0)} s)`);
  for (const m of chosen) {
    const file = path.join(scratch, m.file);
    const original = readFileSync(file, 'utf8');
    writeFileSync(file, apply(scratch, m));
    fresh();
    const r = run(scratch, m.tests, env);
    writeFileSync(file, original);
    const result = r.status === 0 ? 'SURVIVED' : r.signal ? `caught (${r.signal})` : 'caught';
    rows.push({ ...m, result, seconds: r.seconds, failed: r.failed });
    console.log(`${m.id}: ${result} in ${r.seconds.toFixed(0)} s${r.failed.length ? ` — failing: ${r.failed.slice(0, 3).join(' | ')}` : ''}`);
  }
} finally {
  rmSync(base, { recursive: true, force: true });
}
console.log('\n| mutant | change | file | tests | result | failing tests (first 2) |\n|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.id} | ${r.what} | ${r.file} | ${r.tests.map((t) => path.basename(t)).join(', ')} | ${r.result} | ${r.failed.slice(0, 2).join('; ')} |`);
const survived = rows.filter((r) => r.result === 'SURVIVED').length;
console.log(`\n${rows.length - survived} of ${rows.length} caught, ${survived} survived`);
process.exit(survived ? 1 : 0);
