import { compareDirections } from '../../engine/directions/geometry';
import { readDirections } from '../../engine/directions/file';
import { parse, UsageError } from '../args';

export const summary = 'per-layer cosine similarity of two direction files of one model shape';

export const help = `refusal-lens compare <a.json> <b.json> [--json]

The cosine of the two files' selected directions, and for every layer at which both files hold a
direction, the cosine of theirs (base vs chat model, two prompt sets, two seeds). The files must be
made for models of the same shape (layers and hidden size).
  --json                    print one JSON object instead of text`;

const OPTIONS = { json: { type: 'boolean', default: false } } as const;

export async function run(argv: string[]): Promise<number> {
  // The two files are positional; everything else goes through the common option parser.
  const files = argv.filter((a) => !a.startsWith('-'));
  const { json } = parse(argv.filter((a) => a.startsWith('-')), OPTIONS).values;
  if (files.length !== 2) throw new UsageError(`compare takes two direction files, got ${files.length}`);
  const [a, b] = files;
  const c = compareDirections(await readDirections(a), await readDirections(b), a, b);
  if (json) {
    console.log(JSON.stringify(c));
    return 0;
  }
  console.log(`cos(${c.a.name} @ layer ${c.a.layer} of ${a}, ${c.b.name} @ layer ${c.b.layer} of ${b}) = ${c.selected.toFixed(4)}`);
  for (const l of c.layers) console.log(`  layer ${String(l.layer).padStart(2)}  ${l.cosine.toFixed(4)}  (${l.a} / ${l.b})`);
  return 0;
}
