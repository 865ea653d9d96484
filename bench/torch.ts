// Row 6: the same prefill in PyTorch eager (Debian's python3-torch) on the same fp32 weights, the
// reference most researchers would otherwise use. Python reads the weights straight from the ONNX
// external data file through a manifest of offsets; the run is skipped, with the reason, wherever
// no Python with torch is installed.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeModel, toNumber } from '../src/engine/onnx/proto';
import { row, Row, unavailable } from './measure';
import type { BenchModel } from './models';

function pythonWithTorch(): { python: string; version: string } | string {
  let why = 'no python3 found';
  for (const python of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
    if (r.status === 0) return { python, version: r.stdout.trim() };
    if (r.error === undefined) why = 'python3 has no torch (as root: apt-get install -y python3-torch libopenblas0-pthread)';
  }
  return why;
}

export async function torchPrefill(model: BenchModel, ids: number[], runs: number, ours: { ms: number; lastLogits: Float32Array } | undefined, log: (m: string) => void): Promise<Row[]> {
  const name = `prefill ${ids.length} tok, fp32: engine (all residuals + logits) vs PyTorch eager`;
  const found = pythonWithTorch();
  if (typeof found === 'string') return [unavailable(name, 'ms', '<= 1', found)];
  if (!ours) return [unavailable(name, 'ms', '<= 1', 'the fp32 prefill was not measured in this run (--quick)')];
  const graph = decodeModel(readFileSync(path.join(model.dir, 'onnx', 'model.onnx'))).graph!;
  const tensors: Record<string, { offset: number; length: number; dims: number[] }> = {};
  for (const t of graph.initializer ?? []) {
    const ext = Object.fromEntries((t.externalData ?? []).map((e) => [e.key, e.value]));
    if (ext.location) tensors[t.name!] = { offset: Number(ext.offset), length: Number(ext.length), dims: (t.dims ?? []).map(toNumber) };
  }
  const manifest = path.join(os.tmpdir(), `refusal-lens-bench-torch-${process.pid}.json`);
  writeFileSync(manifest, JSON.stringify({ config: model.config, data: path.join(model.dir, 'onnx', 'model.onnx_data'), tensors, ids, runs }));
  log(`  PyTorch ${found.version} (${found.python})`);
  const r = spawnSync(found.python, [path.join(__dirname, 'torch_prefill.py'), manifest], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) return [unavailable(name, 'ms', '<= 1', `the PyTorch run failed (exit ${r.status ?? r.signal})`)];
  const t = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { torch: string; threads: number; ms: number; lastLogits: number[] };
  // Same weights, same maths: the logits must agree, or the comparison means nothing.
  const diff = Math.max(...t.lastLogits.map((x, i) => Math.abs(x - ours.lastLogits[i])));
  return [
    row(name, ours.ms, 'ms', ours.ms / t.ms, '<=', 1, `torch ${t.torch}, ${t.threads} threads, ${t.ms.toFixed(0)} ms; max |Δlogit| ${diff.toExponential(1)}`),
  ];
}
