// Bundles the extension host, the engine child process, the CLI and the webviews with esbuild.
// onnxruntime-node stays external: its native binaries are loaded from node_modules at run time
// (transformers.js reaches it through createRequire(__filename), which resolves from the bundle's
// folder, i.e. <extension>/node_modules). sharp is replaced by a stub: image pipelines are unused.
//
//   node scripts/build.mjs [--production] [--watch] [--outdir <dir>]
//   --production  minified, no source maps, the output folder emptied first
//   --outdir      where the bundles go (default dist/; the packaging script builds into a staging folder)
import * as esbuild from 'esbuild';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');
const root = path.resolve(import.meta.dirname, '..');
const outdirArg = process.argv.find((a, i) => process.argv[i - 1] === '--outdir') ?? process.argv.find((a) => a.startsWith('--outdir='))?.slice(9);
const outdir = path.resolve(root, outdirArg ?? 'dist');

const node = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  external: ['vscode', 'onnxruntime-node'],
  alias: { sharp: path.join(root, 'scripts', 'sharp-stub.cjs') },
  logLevel: 'warning',
  // transformers.js's CommonJS build reads import.meta.url for its own location; give it one.
  define: { 'import.meta.url': 'importMetaUrl' },
  banner: { js: "const importMetaUrl = require('url').pathToFileURL(__filename).href;" },
};

const webviewDir = path.join(root, 'webview');
const webviews = existsSync(webviewDir)
  ? readdirSync(webviewDir, { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(path.join(webviewDir, d.name, 'main.ts')))
      .map((d) => d.name)
  : [];

const builds = [
  { ...node, entryPoints: { extension: 'src/host/extension.ts' }, outdir },
  { ...node, entryPoints: { engine: 'src/engine/main.ts' }, outdir },
  { ...node, entryPoints: { cli: 'src/cli/main.ts' }, outdir, banner: { js: `#!/usr/bin/env node\n${node.banner.js}` } },
  ...webviews.map((name) => ({
    bundle: true,
    platform: 'browser',
    target: 'es2022',
    format: 'iife',
    sourcemap: !production,
    minify: production,
    entryPoints: { [name]: `webview/${name}/main.ts` },
    outdir: path.join(outdir, 'webview'),
    logLevel: 'warning',
  })),
].filter((b) => Object.values(b.entryPoints).every((e) => existsSync(path.join(root, e))));

// A production build starts clean so no development source maps end up in a package.
if (production) rmSync(outdir, { recursive: true, force: true });

if (watch) {
  for (const b of builds) await (await esbuild.context({ ...b, absWorkingDir: root })).watch();
  console.log('watching…');
} else {
  await Promise.all(builds.map((b) => esbuild.build({ ...b, absWorkingDir: root })));
  console.log(`built ${builds.flatMap((b) => Object.keys(b.entryPoints)).join(', ')} into ${path.relative(root, outdir) || '.'}`);
}
