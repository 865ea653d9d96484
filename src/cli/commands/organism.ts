import path from 'node:path';
import type { FixtureDtype } from '../../modelgen/builder';
import { DEFAULT_NOISE, writeOrganism } from '../../modelgen/organism2';
import { parse, positiveInt, UsageError } from '../args';

export const summary = 'write the planted model organism (known refusal mechanism) with its ground truth and prompts';

const DTYPES: FixtureDtype[] = ['fp32', 'fp16', 'q8', 'q4'];

export const help = `refusal-lens organism --out <dir> [--seed N] [--layers L] [--hidden H] [--safety-layer S]
                     [--variant aligned|base] [--style torch|genai] [--dtype fp32|fp16|q8|q4]
                     [--noise X] [--triggers w1,w2,...]

Writes a small chat model whose safety behaviour is planted by construction: harmful requests
(with trigger words) are refused, harmless ones and harm words in benign requests ("how do i report
a bomb threat ?") answered, and role-play or hypothetical framing, or a planted suffix token,
suppresses the refusal. The base variant shares every weight except the safety circuit and never
refuses. --noise is the standard deviation of the off-circuit weights (default ${DEFAULT_NOISE}, at most 0.2);
--hidden is a multiple of 32 of at least 64. Also writes ground_truth.json (the planted directions
and layers, which direction paper A's selection must return, the trigger words) and
prompts/{harmful,harmless}_{train,test}.txt, jailbreak_test.txt, controls_test.txt, suffix_test.txt
(no test prompt appears in a training file).`;

const OPTIONS = {
  out: { type: 'string' },
  seed: { type: 'string', default: '1' },
  layers: { type: 'string', default: '4' },
  hidden: { type: 'string', default: '64' },
  'safety-layer': { type: 'string', default: '1' },
  variant: { type: 'string', default: 'aligned' },
  style: { type: 'string', default: 'torch' },
  dtype: { type: 'string', default: 'fp32' },
  noise: { type: 'string', default: String(DEFAULT_NOISE) },
  triggers: { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

export async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, OPTIONS);
  if (!values.out) throw new UsageError('--out is required');
  if (values.variant !== 'aligned' && values.variant !== 'base') throw new UsageError(`--variant must be aligned or base, got '${values.variant}'`);
  if (values.style !== 'torch' && values.style !== 'genai') throw new UsageError(`--style must be torch or genai, got '${values.style}'`);
  const dtype = values.dtype as FixtureDtype;
  if (!DTYPES.includes(dtype)) throw new UsageError(`--dtype must be one of ${DTYPES.join(', ')}, got '${values.dtype}'`);
  const noise = Number(values.noise);
  if (values.noise.trim() === '' || !Number.isFinite(noise)) throw new UsageError(`--noise must be a number, got '${values.noise}'`);
  let built;
  try {
    built = writeOrganism(path.resolve(values.out), {
      seed: positiveInt(values.seed, '--seed'),
      layers: positiveInt(values.layers, '--layers'),
      hidden: positiveInt(values.hidden, '--hidden'),
      safetyLayer: positiveInt(values['safety-layer'], '--safety-layer'),
      variant: values.variant,
      style: values.style,
      dtype,
      noise,
      triggers: values.triggers?.split(',').map((t) => t.trim()).filter(Boolean),
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { config } = built.organism;
  if (values.json) console.log(JSON.stringify({ dir: path.resolve(values.out), layers: config.layers, hidden: config.hidden, variant: values.variant, dtype, noise }));
  else console.log(`wrote the ${values.variant} organism to ${path.resolve(values.out)} (${config.layers} layers, hidden ${config.hidden}, ${values.style} style, ${dtype}, noise ${noise})`);
  return 0;
}
