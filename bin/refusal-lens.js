#!/usr/bin/env node
// Runs the bundled CLI when it has been built, else the TypeScript sources through tsx, so
// `npx refusal-lens` works straight after `npm install` in a clone.
const path = require('node:path');
const fs = require('node:fs');

const bundle = path.join(__dirname, '..', 'dist', 'cli.js');
let cli;
if (fs.existsSync(bundle)) {
  cli = require(bundle);
} else {
  require('tsx/cjs');
  cli = require(path.join(__dirname, '..', 'src', 'cli', 'main.ts'));
}
cli.main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
