// The .vsix a user installs: built offline by `npm run package` for this platform, it holds the
// bundles and onnxruntime-node's native binding for that platform only, and its engine runs on its
// own (unpacked, away from the repo's node_modules): the CLI bundle runs doctor, and the engine
// bundle answers the host's protocol over IPC.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import semver from 'semver';
import { EngineClient } from '../src/host/engineClient';
import { fixture } from './support/fixtures';
import { REPO, tempDir } from './support/paths';

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? files(path.join(dir, d.name)) : [path.join(dir, d.name)]));
}

const supported = ['linux-x64', 'linux-arm64', 'darwin-arm64', 'win32-x64', 'win32-arm64'].includes(`${process.platform}-${process.arch}`);

test('npm run package builds a platform .vsix whose bundled engine runs on its own', { timeout: 300_000, skip: !supported && 'onnxruntime-node has no binary for this platform' }, async () => {
  const out = tempDir('vsix');
  const vsix = path.join(out, 'refusal-lens.vsix');
  const distBefore = statSync(path.join(REPO, 'dist', 'engine.js'), { throwIfNoEntry: false })?.mtimeMs;
  execFileSync(process.execPath, [path.join(REPO, 'scripts', 'package.mjs'), '--out', vsix], { cwd: REPO, stdio: 'pipe' });
  assert.equal(statSync(path.join(REPO, 'dist', 'engine.js'), { throwIfNoEntry: false })?.mtimeMs, distBefore, 'the working tree dist/ is left alone');
  const size = statSync(vsix).size / 1e6;
  assert.ok(size < 40, `${size.toFixed(1)} MB: only one platform's onnxruntime should ship`);

  const unpacked = path.join(out, 'unpacked');
  execFileSync('unzip', ['-q', vsix, '-d', unpacked]);
  const ext = path.join(unpacked, 'extension');
  const shipped = files(ext).map((f) => path.relative(ext, f).split(path.sep).join('/'));
  const dist = shipped.filter((f) => f.startsWith('dist/'));
  assert.deepEqual(dist.filter((f) => !f.startsWith('dist/webview/')).sort(), ['dist/cli.js', 'dist/engine.js', 'dist/extension.js']);
  assert.ok(dist.every((f) => f.endsWith('.js')), `no source maps ship: ${dist}`);
  assert.ok(!shipped.some((f) => f.startsWith('src/') || f.startsWith('test/') || f.startsWith('webview/')), 'sources do not ship');
  const binaries = shipped.filter((f) => f.includes('/bin/napi-v6/')).map((f) => f.split('/').slice(4, 6).join('-'));
  assert.deepEqual([...new Set(binaries)], [`${process.platform}-${process.arch}`], 'only this platform\'s onnxruntime binaries');
  const modules = new Set(shipped.filter((f) => f.startsWith('node_modules/')).map((f) => f.split('/')[1]));
  assert.deepEqual([...modules].sort(), ['onnxruntime-common', 'onnxruntime-node'], 'transformers.js and zod are bundled; onnxruntime-web and sharp do not ship');
  assert.match(readFileSync(path.join(unpacked, 'extension.vsixmanifest'), 'utf8'), new RegExp(`TargetPlatform="${process.platform}-${process.arch}"`));
  // The extension's details page renders the packaged README: every image it links ships with it.
  const images = [...readFileSync(path.join(ext, 'readme.md'), 'utf8').matchAll(/!\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]);
  assert.ok(images.length > 0, 'the README shows screenshots');
  for (const image of images) assert.ok(shipped.includes(image), `README image ${image} is not in the .vsix`);

  const fx = fixture({ style: 'torch', dtype: 'fp32' });
  const r = spawnSync(process.execPath, [path.join(ext, 'dist', 'cli.js'), 'doctor', '--model', fx.dir, '--json', '--cache-dir', tempDir('vsix-cache')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).ok, true);

  // The engine bundle as the extension host starts it: forked, over IPC.
  const logs: string[] = [];
  const engine = new EngineClient({ enginePath: path.join(ext, 'dist', 'engine.js'), log: (_l, m) => logs.push(m) });
  try {
    const info = await engine.request('load', { model: fx.dir, cacheDir: tempDir('vsix-engine-cache') });
    assert.equal(info.residualHooks, 9);
    const f = await engine.request('forward', { inputs: [{ prompt: 'hello' }], hooks: ['resid_final'] });
    assert.ok(f.items[0].residuals.resid_final instanceof Float32Array);
    assert.ok(logs.some((l) => l.startsWith('engine started')), logs.join('\n'));
  } finally {
    await engine.dispose();
  }
});

test('npm reads the project configuration without warnings, and every dependency runs on the Node versions package.json declares', () => {
  const r = spawnSync('npm', ['config', 'get', 'ignore-scripts'], { cwd: REPO, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr.trim(), '', 'npm warns about the project configuration');
  const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8'));
  const lock = JSON.parse(readFileSync(path.join(REPO, 'package-lock.json'), 'utf8'));
  const range = pkg.engines.node as string;
  for (const node of range.split('||').map((r) => semver.minVersion(r)!.version)) {
    const refused = Object.entries(lock.packages as Record<string, { engines?: { node?: string }; os?: string[]; optional?: boolean }>)
      // Platform packages (sharp's @img/* for other systems) are never installed here.
      .filter(([name, p]) => name && p.engines?.node && !(p.optional && p.os) && !semver.satisfies(node, p.engines.node))
      .map(([name, p]) => `${name} (${p.engines!.node})`);
    assert.deepEqual(refused, [], `on Node ${node}, which package.json's engines (${range}) admits`);
  }
});
