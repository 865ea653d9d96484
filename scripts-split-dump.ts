import { readFileSync } from 'node:fs';
import { decodeModel, valueInfoShape } from './src/engine/onnx/proto';
for (const f of process.argv.slice(2)) {
  const m = decodeModel(readFileSync(f), f);
  const g = m.graph!;
  console.log('==', f, 'opset', JSON.stringify(m.opsetImport));
  const inits = new Set(g.initializer!.map(t=>t.name));
  console.log('inputs', g.input!.filter(i=>!inits.has(i.name)).map(i => `${i.name}:${JSON.stringify(valueInfoShape(i))}`).slice(0,12).join(' '));
  console.log('outputs', g.output!.map(i => `${i.name}:${JSON.stringify(valueInfoShape(i))}`).slice(0,6).join(' '));
  if (g.node!.length < 30) for (const n of g.node!) console.log(' ', n.opType, n.domain, n.input, '->', n.output, JSON.stringify(n.attribute?.map(a=>a.name)));
  if (g.node!.length < 30) for (const t of g.initializer!) console.log('  init', t.name, t.dims, t.dataType, t.externalData?.length ? 'external' : '');
}
