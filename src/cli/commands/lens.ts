import { logitLens } from '../../engine/directions/lens';
import { Engine } from '../../engine/engine';
import { MODEL_HELP, MODEL_OPTIONS, loadParams, parse, positiveInt, stderrProgress, UsageError } from '../args';
import { directionFile } from './direction';

export const summary = "a direction's logit lens: the tokens the unembedding ranks highest and lowest along it";

export const help = `refusal-lens lens --model <dir> --directions <file> [--top <k>] [--json]

The unembedding applied to the selected direction (unit) through the final norm's weight γ,
W_U (γ ⊙ r̂), computed by the model's own graph: the k tokens it promotes most and least (default 10).
${MODEL_HELP}`;

const OPTIONS = { ...MODEL_OPTIONS, directions: { type: 'string' }, top: { type: 'string' } } as const;

export async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, OPTIONS);
  if (!values.directions) throw new UsageError('--directions is required');
  const k = positiveInt(values.top, '--top') ?? 10;
  const direction = await directionFile(values.directions);
  const engine = await Engine.load(loadParams(values), { progress: values.json ? undefined : stderrProgress });
  try {
    const d = direction(engine);
    const lens = await logitLens(engine, d.vector, k);
    if (values.json) {
      console.log(JSON.stringify({ direction: { name: d.name, layer: d.layer }, ...lens }));
      return 0;
    }
    const line = (t: { token: string; value: number }) => `${JSON.stringify(t.token)} ${t.value.toFixed(3)}`;
    console.log(`logit lens of '${d.name}' (layer ${d.layer}):`);
    console.log(`  promotes: ${lens.top.map(line).join(', ')}`);
    console.log(`  suppresses: ${lens.bottom.map(line).join(', ')}`);
    return 0;
  } finally {
    await engine.dispose();
  }
}
