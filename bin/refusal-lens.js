#!/usr/bin/env node
// In a clone, runs the TypeScript sources through tsx (never a stale build); where only the bundle
// exists (an installed package, or a clone installed without dev dependencies), runs dist/cli.js.
const path = require('node:path');
const fs = require('node:fs');

const root = path.join(__dirname, '..');
const source = path.join(root, 'src', 'cli', 'main.ts');
const bundle = path.join(root, 'dist', 'cli.js');

function hasTsx() {
  try {
    require.resolve('tsx/cjs', { paths: [root] });
    return true;
  } catch {
    return false;
  }
}

let cli;
if (fs.existsSync(source) && hasTsx()) {
  require(require.resolve('tsx/cjs', { paths: [root] }));
  cli = require(source);
} else if (fs.existsSync(bundle)) {
  cli = require(bundle);
} else {
  console.error('refusal-lens: neither dist/cli.js nor tsx is available; run `npm install` (or `npm run build`) first.');
  process.exit(1);
}
cli.main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
