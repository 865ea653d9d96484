// Writes l10n/bundle.l10n.json, the English bundle of every vscode.l10n.t message in src/host
// (translators copy it to bundle.l10n.<locale>.json). `--check` writes nothing and exits 1, listing
// the differences, when the bundle is out of date (the test suite runs it so).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const bundleFile = path.join(root, 'l10n', 'bundle.l10n.json');
const sources = readdirSync(path.join(root, 'src', 'host'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
// The message is the first argument, a single-quoted literal (the project's style).
const literal = /vscode\.l10n\.t\(\s*'((?:[^'\\]|\\.)*)'/g;
const unescape = (s) => JSON.parse(`"${s.replaceAll('"', '\\"').replaceAll("\\'", "'")}"`);
const messages = [...new Set(sources.flatMap((f) => [...readFileSync(path.join(root, 'src', 'host', f), 'utf8').matchAll(literal)].map((m) => unescape(m[1]))))].sort();
const text = `${JSON.stringify(Object.fromEntries(messages.map((m) => [m, m])), null, 2)}\n`;

if (process.argv.includes('--check')) {
  let old = {};
  try {
    old = JSON.parse(readFileSync(bundleFile, 'utf8'));
  } catch {}
  const missing = messages.filter((m) => !(m in old));
  const unused = Object.keys(old).filter((m) => !messages.includes(m));
  if (missing.length || unused.length) {
    console.error(`l10n/bundle.l10n.json is out of date (run node scripts/l10n.mjs):${missing.map((m) => `\n  missing: ${m}`).join('')}${unused.map((m) => `\n  unused: ${m}`).join('')}`);
    process.exit(1);
  }
} else {
  writeFileSync(bundleFile, text);
  console.log(`${messages.length} messages in ${path.relative(root, bundleFile)}`);
}
