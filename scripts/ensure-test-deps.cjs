// Installs what the browser and extension-host tests need, once: Chromium from Debian's packages,
// and code-server (VS Code's server and extension host, from npm) into a cache outside the repo;
// and for the learned-organism test, Debian's PyTorch and ONNX for Python.
// The tests call it; CI machines run as root, so apt-get works there without a prompt.
//
//   node scripts/ensure-test-deps.cjs [chromium] [code-server] [torch]
const { execSync, spawnSync } = require('node:child_process');
const { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const CHROMIUM = process.env.REFUSAL_LENS_CHROMIUM || '/usr/bin/chromium';

function ensureChromium() {
  if (existsSync(CHROMIUM)) return CHROMIUM;
  if (process.getuid?.() !== 0) {
    throw new Error('Chromium is needed for the webview tests: install it (Debian: sudo apt-get install chromium) or set REFUSAL_LENS_CHROMIUM');
  }
  console.log('Installing Chromium from Debian packages for the webview tests…');
  execSync('apt-get update -qq', { stdio: 'inherit' });
  const r = spawnSync('apt-get', ['install', '-y', '-qq', 'chromium'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0 || !existsSync(CHROMIUM)) throw new Error('apt-get could not install chromium');
  return CHROMIUM;
}

// libopenblas0-pthread: without it torch uses the reference BLAS, about 10x slower.
const TORCH_PACKAGES = ['python3-torch', 'python3-onnx', 'python3-numpy', 'libopenblas0-pthread'];
const PYTHON = '/usr/bin/python3';

/** Debian's python3-torch and python3-onnx (a few minutes, once); returns the python to run them with. */
function ensureTorch() {
  const missing = TORCH_PACKAGES.filter((p) => !debInstalled(p));
  if (missing.length === 0) return PYTHON;
  if (process.getuid?.() !== 0) throw new Error(`the learned-organism test needs Debian packages ${missing.join(' ')}: sudo apt-get install ${missing.join(' ')}`);
  console.log(`Installing ${missing.join(' ')} from Debian packages for the learned-organism test…`);
  // Test files run in parallel and others may be installing Chromium: wait for dpkg's lock.
  const wait = ['-o', 'DPkg::Lock::Timeout=600'];
  execSync(`apt-get ${wait.join(' ')} update -qq`, { stdio: 'inherit' });
  const r = spawnSync('apt-get', [...wait, 'install', '-y', '-qq', ...missing], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) throw new Error(`apt-get could not install ${missing.join(' ')}`);
  return PYTHON;
}

// code-server bundles VS Code 1.99.3 (this extension's engines.vscode floor) and needs Node 20.
const CODE_SERVER_VERSION = '4.99.4';
const CODE_SERVER_CACHE = path.resolve(
  process.env.REFUSAL_LENS_CODE_SERVER_CACHE || path.join(os.homedir(), '.cache', 'refusal-lens', `code-server-${CODE_SERVER_VERSION}`),
);
// Written last inside the staging folder, which is then renamed into place: a folder at the cache
// path without it was not made by this script, and an interrupted install never reaches that path.
const COMPLETE = '.refusal-lens-complete';

const debInstalled = (pkg) => spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' }).stdout?.includes('install ok installed');

function step(what, cmd, args, cwd, env = {}) {
  console.log(`code-server: ${what}`);
  const r = spawnSync(cmd, args, { cwd, env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) {
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-30).join('\n');
    throw new Error(`installing code-server ${CODE_SERVER_VERSION}: "${what}" failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`}) in ${cwd}\n${out}`);
  }
}

/** Installs code-server once (about 3 minutes, 300 MB) and returns the path of its entry.js. */
function ensureCodeServer() {
  const entry = (root) => path.join(root, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
  if (existsSync(path.join(CODE_SERVER_CACHE, COMPLETE))) return entry(CODE_SERVER_CACHE);
  if (existsSync(CODE_SERVER_CACHE)) throw new Error(`${CODE_SERVER_CACHE} exists but is not a complete code-server install made by this script: delete it`);

  // Offline, kerberos needs Debian's headers to compile and @vscode/ripgrep's postinstall would
  // download rg from GitHub, so both come from apt.
  const missing = [!debInstalled('libkrb5-dev') && 'libkrb5-dev', !existsSync('/usr/bin/rg') && 'ripgrep'].filter(Boolean);
  if (missing.length) {
    if (process.getuid?.() !== 0) throw new Error(`code-server needs Debian packages ${missing.join(' ')}: sudo apt-get install ${missing.join(' ')}`);
    step('apt-get update', 'apt-get', ['update', '-qq'], '/');
    step(`apt-get install ${missing.join(' ')}`, 'apt-get', ['install', '-y', '-qq', ...missing], '/', { DEBIAN_FRONTEND: 'noninteractive' });
  }

  // Staging folders of installs whose process is gone are leftovers of a crash.
  const parent = path.dirname(CODE_SERVER_CACHE);
  const prefix = `${path.basename(CODE_SERVER_CACHE)}.partial-`;
  mkdirSync(parent, { recursive: true });
  for (const name of readdirSync(parent).filter((n) => n.startsWith(prefix))) {
    const pid = Number(name.slice(prefix.length));
    try {
      process.kill(pid, 0);
    } catch {
      rmSync(path.join(parent, name), { recursive: true, force: true });
    }
  }

  const stage = path.join(parent, `${prefix}${process.pid}`);
  console.log(`code-server: installing ${CODE_SERVER_VERSION} into ${stage} (a few minutes, once)`);
  try {
    mkdirSync(stage);
    // Without a package.json npm would look for a project in the parent folders.
    writeFileSync(path.join(stage, 'package.json'), '{ "private": true }\n');
    const quiet = ['--no-audit', '--no-fund'];
    // Install scripts are skipped (@vscode/ripgrep's would download rg from GitHub) and run by explicit
    // `npm rebuild`s once rg is in place, whatever npm's script policy; npm_config_yes lets scripts
    // that call npx fetch node-gyp.
    const yes = { npm_config_yes: 'true' };
    step(`npm install code-server@${CODE_SERVER_VERSION}`, 'npm', ['install', '--ignore-scripts', ...quiet, `code-server@${CODE_SERVER_VERSION}`], stage);
    const vscode = path.join(stage, 'node_modules', 'code-server', 'lib', 'vscode');
    step("npm install (VS Code's dependencies)", 'npm', ['install', '--omit=dev', '--ignore-scripts', ...quiet], vscode);
    console.log('code-server: copy /usr/bin/rg into @vscode/ripgrep');
    mkdirSync(path.join(vscode, 'node_modules', '@vscode', 'ripgrep', 'bin'), { recursive: true });
    copyFileSync('/usr/bin/rg', path.join(vscode, 'node_modules', '@vscode', 'ripgrep', 'bin', 'rg'));
    step("npm rebuild (VS Code's native modules)", 'npm', ['rebuild', '--ignore-scripts=false'], vscode, yes);
    // What code-server's own postinstall.sh would have done: relative links, so the folder can move.
    console.log('code-server: symlinks from postinstall.sh');
    symlinkSync('node_modules', path.join(vscode, 'node_modules.asar'));
    symlinkSync('code-linux.sh', path.join(vscode, 'bin', 'remote-cli', 'code-server'));
    symlinkSync('browser-linux.sh', path.join(vscode, 'bin', 'helpers', 'browser.sh'));
    step('npm install (built-in extensions)', 'npm', ['install', '--omit=dev', ...quiet], path.join(vscode, 'extensions'), yes);
    step('npm rebuild argon2', 'npm', ['rebuild', '--ignore-scripts=false', 'argon2'], stage, yes);
    step('check: code-server --version', process.execPath, [entry(stage), '--version'], stage);
    writeFileSync(path.join(stage, COMPLETE), `code-server ${CODE_SERVER_VERSION} installed ${new Date().toISOString()}\n`);
    try {
      renameSync(stage, CODE_SERVER_CACHE);
    } catch (e) {
      // Another process finished first: keep its install.
      if (!existsSync(path.join(CODE_SERVER_CACHE, COMPLETE))) throw e;
      rmSync(stage, { recursive: true, force: true });
    }
  } catch (e) {
    rmSync(stage, { recursive: true, force: true });
    throw e;
  }
  console.log(`code-server: ready in ${CODE_SERVER_CACHE}`);
  return entry(CODE_SERVER_CACHE);
}

module.exports = { CHROMIUM, ensureChromium, CODE_SERVER_VERSION, ensureCodeServer, ensureTorch };
if (require.main === module) {
  const what = process.argv.slice(2);
  if (what.length === 0 || what.includes('chromium')) ensureChromium();
  if (what.includes('code-server')) console.log(ensureCodeServer());
  if (what.includes('torch')) console.log(ensureTorch());
}
