// `npm run package`: a platform-specific .vsix, built offline. The extension is staged in a temporary
// folder (production bundles built there, the repository's node_modules linked in), so packaging
// never touches the working tree's dist/ while tests or a watch build use it.
//
//   node scripts/package.mjs [--target <t>|universal] [--out <file.vsix>]
//   --target  linux-x64 (default: this machine), linux-arm64, darwin-arm64, win32-x64, win32-arm64,
//             or universal (every platform's onnxruntime binaries in one .vsix)
//   --out     default: refusal-lens-<version>-<target>.vsix in the repository
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const root = path.resolve(import.meta.dirname, '..');
/** Targets onnxruntime-node ships binaries for (no darwin-x64 since 1.24). */
const TARGETS = ['linux-x64', 'linux-arm64', 'darwin-arm64', 'win32-x64', 'win32-arm64'];

let args;
try {
  args = parseArgs({ options: { target: { type: 'string' }, out: { type: 'string' } }, strict: true }).values;
} catch (e) {
  console.error(`package: ${e.message}`);
  process.exit(2);
}
const target = args.target ?? `${process.platform}-${process.arch}`;
if (target !== 'universal' && !TARGETS.includes(target)) {
  console.error(`package: onnxruntime-node has no binaries for '${target}'; choose one of ${TARGETS.join(', ')}, universal`);
  process.exit(2);
}
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const out = path.resolve(args.out ?? path.join(root, `${pkg.name}-${pkg.version}-${target}.vsix`));

function run(cmd, argv, cwd) {
  const r = spawnSync(cmd, argv, { cwd, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`package: ${path.basename(argv[0])} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status || 1);
  }
}

const stage = mkdtempSync(path.join(os.tmpdir(), 'refusal-lens-package-'));
try {
  for (const f of ['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE']) copyFileSync(path.join(root, f), path.join(stage, f));
  if (existsSync(path.join(root, 'media'))) cpSync(path.join(root, 'media'), path.join(stage, 'media'), { recursive: true });
  run(process.execPath, [path.join(root, 'scripts', 'build.mjs'), '--production', '--outdir', path.join(stage, 'dist')], root);
  symlinkSync(path.join(root, 'node_modules'), path.join(stage, 'node_modules'), 'junction');
  // Keep only this target's onnxruntime binaries.
  const binary = /^!node_modules\/onnxruntime-node\/bin\/napi-v6\/([^/]+)\/([^/]+)\//;
  const ignore = readFileSync(path.join(root, '.vscodeignore'), 'utf8')
    .split('\n')
    .filter((line) => {
      const m = binary.exec(line.trim());
      return !m || target === 'universal' || `${m[1]}-${m[2]}` === target;
    });
  writeFileSync(path.join(stage, '.vscodeignore'), ignore.join('\n'));
  const vsce = path.join(root, 'node_modules', '@vscode', 'vsce', 'vsce');
  // No public repository yet: README links (the screenshots) stay relative instead of being rewritten.
  run(process.execPath, [vsce, 'package', '--allow-missing-repository', '--no-rewrite-relative-links', '--out', out, ...(target === 'universal' ? [] : ['--target', target])], stage);
  console.log(`${path.relative(process.cwd(), out)}: ${(statSync(out).size / 1e6).toFixed(1)} MB (${target})`);
} finally {
  rmSync(stage, { recursive: true, force: true });
}
