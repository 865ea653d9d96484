import path from 'node:path';
import { writeOrganism } from '../../modelgen/organism';
import { parse, positiveInt, UsageError } from '../args';

export const summary = 'write the planted model organism (known refusal mechanism) with its ground truth and prompts';

export const help = `refusal-lens organism --out <dir> [--seed N] [--layers L] [--hidden H] [--safety-layer S]
                     [--variant aligned|base] [--style torch|genai] [--triggers w1,w2,...]

Writes a small chat model whose safety behaviour is planted by construction: harmful requests
(with trigger words) are refused, harmless ones answered, and role-play or hypothetical framing
suppresses the refusal. The base variant shares every weight except the safety circuit and never
refuses. Also writes ground_truth.json (the planted directions and layers, the trigger words) and
prompts/{harmful,harmless}_{train,test}.txt and prompts/jailbreak_test.txt.`;

const OPTIONS = {
  out: { type: 'string' },
  seed: { type: 'string', default: '1' },
  layers: { type: 'string', default: '4' },
  hidden: { type: 'string', default: '64' },
  'safety-layer': { type: 'string', default: '1' },
  variant: { type: 'string', default: 'aligned' },
  style: { type: 'string', default: 'torch' },
  triggers: { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

export async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, OPTIONS);
  if (!values.out) throw new UsageError('--out is required');
  if (values.variant !== 'aligned' && values.variant !== 'base') throw new UsageError(`--variant must be aligned or base, got '${values.variant}'`);
  if (values.style !== 'torch' && values.style !== 'genai') throw new UsageError(`--style must be torch or genai, got '${values.style}'`);
  let built;
  try {
    built = writeOrganism(path.resolve(values.out), {
      seed: positiveInt(values.seed, '--seed'),
      layers: positiveInt(values.layers, '--layers'),
      hidden: positiveInt(values.hidden, '--hidden'),
      safetyLayer: positiveInt(values['safety-layer'], '--safety-layer'),
      variant: values.variant,
      style: values.style,
      triggers: values.triggers?.split(',').map((t) => t.trim()).filter(Boolean),
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { config } = built.organism;
  if (values.json) console.log(JSON.stringify({ dir: path.resolve(values.out), layers: config.layers, hidden: config.hidden, variant: values.variant }));
  else console.log(`wrote the ${values.variant} organism to ${path.resolve(values.out)} (${config.layers} layers, hidden ${config.hidden}, ${values.style} style)`);
  return 0;
}
