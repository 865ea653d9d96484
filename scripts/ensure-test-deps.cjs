// Installs what the browser and extension-host tests need from Debian's packages (Chromium), once.
// The tests call it; CI machines run as root, so apt-get works there without a prompt.
const { execSync, spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');

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

module.exports = { CHROMIUM, ensureChromium };
if (require.main === module) ensureChromium();
