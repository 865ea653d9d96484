// Localisable strings: every `%key%` of package.json has its English text in package.nls.json (and
// no text there is unused), and the bundle l10n/bundle.l10n.json that translators copy
// (`bundle.l10n.<locale>.json` beside it) holds exactly the host code's vscode.l10n.t messages.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO } from '../support/paths';

const json = (file: string) => JSON.parse(readFileSync(path.join(REPO, file), 'utf8')) as Record<string, unknown>;

test('package.json strings are all in package.nls.json, and only those', () => {
  const keys = new Set([...readFileSync(path.join(REPO, 'package.json'), 'utf8').matchAll(/"%([\w.-]+)%"/g)].map((m) => m[1]));
  const nls = json('package.nls.json');
  assert.deepEqual([...keys].filter((k) => !(k in nls)), [], 'keys without a text');
  assert.deepEqual(Object.keys(nls).filter((k) => !keys.has(k)), [], 'texts nothing uses');
  assert.ok(keys.size > 50, `${keys.size} keys`);
});

test('every vscode.l10n.t message in src/host is in l10n/bundle.l10n.json, and nothing else (scripts/l10n.mjs --check)', () => {
  const r = spawnSync(process.execPath, [path.join(REPO, 'scripts', 'l10n.mjs'), '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const bundle = json('l10n/bundle.l10n.json');
  assert.ok(Object.keys(bundle).length >= 20);
  for (const [k, v] of Object.entries(bundle)) assert.equal(v, k, 'the English bundle maps each message to itself');
});
