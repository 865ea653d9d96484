// `npm run demo`: the main job on a default model, offline. Builds a small test decoder with the
// project's own code (no download), then inspects it, proves the instrumented graph is exact
// (doctor), and generates with and without a direction ablated, all through the refusal-lens CLI.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const home = process.env.REFUSAL_LENS_CACHE || path.join(os.homedir(), '.cache', 'refusal-lens');
const model = path.join(home, 'demo-model');

function run(title, ...args) {
  console.log(`\n$ refusal-lens ${args.join(' ')}    # ${title}`);
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'refusal-lens.js'), ...args], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

run('a small Llama-style model in the onnxruntime-genai export style', 'fixture', '--out', model, '--style', 'genai', '--dtype', 'q4');
run('what the engine finds in the graph', 'inspect', '--model', model, '--dtype', 'q4');
run('zero steering reproduces the original logits', 'doctor', '--model', model, '--dtype', 'q4');
run('a completion', 'generate', '--model', model, '--dtype', 'q4', '--prompt', 'Write a short poem about the sea.', '--max-new-tokens', '12');
const directions = path.join(home, 'demo-direction.json');
const vector = Array.from({ length: 64 }, (_, i) => Math.sin(0.7 * i));
writeFileSync(directions, JSON.stringify({
  format: 'refusal-lens/directions',
  version: 1,
  model: { id: 'demo-model', layers: 4, hidden: 64 },
  directions: [{ name: 'demo', layer: 2, position: -1, method: 'hand-written example', vector }],
}));
run('the same prompt with a direction ablated at every layer', 'generate', '--model', model, '--dtype', 'q4', '--prompt', 'Write a short poem about the sea.', '--max-new-tokens', '12', '--ablate', directions);
