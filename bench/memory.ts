// Row 5: peak resident memory of the real engine process (dist/engine.js, as the extension forks
// it) while it scores one prompt: projections at every layer, next tokens and occlusion triggers.
// The kernel's high-water mark (VmHWM in /proc/<pid>/status) is reset after loading by writing 5
// to /proc/<pid>/clear_refs, so loading's own peak (onnxruntime packing weights) is reported apart.
import { fork, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { row, Row, unavailable } from './measure';
import type { BenchDtype, BenchModel } from './models';

const root = path.resolve(__dirname, '..');
const status = (pid: number, field: 'VmHWM' | 'VmRSS') => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

export async function scoringMemory(
  model: BenchModel,
  dtype: BenchDtype,
  cacheDir: string,
  prompt: string,
  direction: { vector: number[]; layer: number },
  /** A long prompt scored after the first, with its own peak (reset again) and time. */
  long?: { prompt: string; tokens: number },
): Promise<Row[]> {
  const name = `peak RSS while scoring, ${dtype}: engine process vs model file size`;
  if (process.platform !== 'linux') return [unavailable(name, 'MiB', '<= 1.5', 'needs /proc (Linux)')];
  const build = spawnSync(process.execPath, [path.join(root, 'scripts', 'build.mjs')], { cwd: root, encoding: 'utf8' });
  if (build.status !== 0) return [unavailable(name, 'MiB', '<= 1.5', `npm run build failed: ${build.stderr.trim().split('\n').at(-1)}`)];
  const engine = fork(path.join(root, 'dist', 'engine.js'), [], { serialization: 'advanced', stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  let next = 1;
  const call = (method: string, params: unknown) =>
    new Promise<unknown>((resolve, reject) => {
      const id = next++;
      const onMessage = (m: { kind: string; id?: number; result?: unknown; error?: { message: string } }) => {
        if (m.kind !== 'response' || m.id !== id) return;
        engine.off('message', onMessage);
        if (m.error) reject(new Error(m.error.message));
        else resolve(m.result);
      };
      engine.on('message', onMessage);
      engine.send({ kind: 'request', id, method, params });
    });
  try {
    await call('load', { model: model.dir, dtype, cacheDir, allowRemote: false });
    const loading = status(engine.pid!, 'VmHWM');
    const loaded = status(engine.pid!, 'VmRSS');
    writeFileSync(`/proc/${engine.pid}/clear_refs`, '5');
    await call('score', { prompt, direction });
    const scoring = status(engine.pid!, 'VmHWM');
    const files = model.fileBytes[dtype];
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
    const note = `files ${mib(files)}, ${mib(loaded)} resident once loaded`;
    const rows = [
      row(name, scoring / 2 ** 20, 'MiB', scoring / files, '<=', 1.5, note),
      row(`peak RSS while loading, ${dtype}: engine process vs model file size`, loading / 2 ** 20, 'MiB', loading / files, '<=', 1.5, note),
    ];
    if (long) {
      writeFileSync(`/proc/${engine.pid}/clear_refs`, '5');
      const started = Date.now();
      const r = (await call('score', { prompt: long.prompt, direction })) as { triggerMethod: string; triggers: unknown[] };
      const seconds = (Date.now() - started) / 1000;
      const peak = status(engine.pid!, 'VmHWM');
      rows.push(
        row(`Score of a ${long.tokens}-tok prompt, ${dtype}: projections at every layer + occlusion`, seconds, 's', seconds / 60, null, 0, `${r.triggerMethod}, ${r.triggers.length} spans or tokens; ratio = minutes`),
        row(`peak RSS while scoring a ${long.tokens}-tok prompt, ${dtype}: engine process vs model file size`, peak / 2 ** 20, 'MiB', peak / files, '<=', 2, note),
      );
    }
    return rows;
  } finally {
    engine.kill();
  }
}
