// Copies the screenshots the tests take (.test-artifacts/) into media/screenshots/ for the README:
//   npm test -- webview host && node scripts/screenshots.mjs
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const SHOTS = ['vscode-trigger-hover', 'vscode-ablation-diff-on-a-prompt-file', 'vscode-direction-explorer', 'score-panel', 'score-panel-progress', 'ablation-diff-panel', 'direction-explorer', 'score-panel-heads'];
mkdirSync(path.join(root, 'media', 'screenshots'), { recursive: true });
const missing = SHOTS.filter((s) => !existsSync(path.join(root, '.test-artifacts', `${s}.png`)));
if (missing.length) {
  console.error(`missing in .test-artifacts (run the webview and host tests first): ${missing.join(', ')}`);
  process.exit(1);
}
for (const s of SHOTS) copyFileSync(path.join(root, '.test-artifacts', `${s}.png`), path.join(root, 'media', 'screenshots', `${s}.png`));
console.log(`copied ${SHOTS.length} screenshots into media/screenshots/`);
