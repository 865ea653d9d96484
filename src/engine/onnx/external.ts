// Moving embedded initializers into an external data file next to the graph, with relative
// locations (ORT resolves them against the graph's folder and refuses anything outside it).
import { closeSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { onnx } from './proto';

/** Moves every initializer of at least `minBytes` into `dataPath`; returns how many moved. */
export function externalizeInitializers(model: onnx.IModelProto, dataPath: string, minBytes: number): number {
  const big = (model.graph!.initializer ?? []).filter((t) => (t.rawData?.byteLength ?? 0) >= minBytes);
  if (big.length === 0) return 0;
  const fd = openSync(dataPath, 'w');
  try {
    let offset = 0;
    for (const t of big) {
      const bytes = t.rawData!;
      writeSync(fd, bytes);
      t.externalData = [
        { key: 'location', value: path.basename(dataPath) },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(bytes.byteLength) },
      ];
      t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      t.rawData = null;
      offset += bytes.byteLength;
    }
  } finally {
    closeSync(fd);
  }
  return big.length;
}
