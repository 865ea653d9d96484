#!/usr/bin/env node
// In a clone, runs the TypeScript sources through tsx (never a stale build); where only the bundle
// exists (an installed package), runs dist/cli.js.
const path = require('node:path');
const fs = require('node:fs');

const source = path.join(__dirname, '..', 'src', 'cli', 'main.ts');
let cli;
if (fs.existsSync(source)) {
  require('tsx/cjs');
  cli = require(source);
} else {
  cli = require(path.join(__dirname, '..', 'dist', 'cli.js'));
}
cli.main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
