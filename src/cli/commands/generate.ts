import { Engine } from '../../engine/engine';
import { GenerateParams, type ParamsOf } from '../../protocol';
import { directionFile } from './direction';
import { MODEL_HELP, MODEL_OPTIONS, loadParams, parse, positiveInt, stderrProgress, UsageError } from '../args';

export const summary = 'generate a completion, optionally with a direction ablated';

export const help = `refusal-lens generate --model <dir> --prompt <text> [options]

Generates a completion, streaming tokens as they come. With --ablate, the selected direction of a
direction file is projected out of the residual stream at every layer and position.

  --prompt <text>           the user message (the model's chat template is applied)
  --raw                     use the prompt as is, without the chat template
  --max-new-tokens <n>      default 64
  --ablate <directions.json>
  --temperature <t> --top-k <k> --top-p <p> --seed <s>   sample instead of greedy decoding
${MODEL_HELP}`;

const OPTIONS = {
  ...MODEL_OPTIONS,
  prompt: { type: 'string' },
  raw: { type: 'boolean', default: false },
  'max-new-tokens': { type: 'string' },
  ablate: { type: 'string' },
  temperature: { type: 'string' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
  seed: { type: 'string' },
} as const;

function number(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`${flag} must be a number, got '${v}'`);
  return n;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, OPTIONS);
  if (values.prompt === undefined) throw new UsageError('--prompt is required');
  const sampled = ['temperature', 'top-k', 'top-p', 'seed'].some((k) => values[k as keyof typeof values] !== undefined);
  const params: ParamsOf<'generate'> = {
    input: { prompt: values.prompt, chat: !values.raw },
    maxNewTokens: positiveInt(values['max-new-tokens'], '--max-new-tokens') ?? 64,
    ...(sampled
      ? {
          sampling: {
            temperature: number(values.temperature, '--temperature') ?? 1,
            topK: positiveInt(values['top-k'], '--top-k'),
            topP: number(values['top-p'], '--top-p'),
            seed: number(values.seed, '--seed') ?? 0,
          },
        }
      : {}),
  };
  const direction = values.ablate ? await directionFile(values.ablate) : undefined;
  const engine = await Engine.load(loadParams(values), { progress: values.json ? undefined : stderrProgress });
  try {
    if (direction) params.steering = { ablate: [direction(engine).vector] };
    const result = await engine.generate(GenerateParams.parse(params), {
      token: values.json ? undefined : (_i, _id, text) => process.stdout.write(text),
    });
    if (values.json) console.log(JSON.stringify({ text: result.text, ids: result.ids, prompt_ids: result.promptIds, stop_reason: result.stopReason }));
    else process.stdout.write(`\n[${result.stopReason}, ${result.ids.length} tokens]\n`);
    return 0;
  } finally {
    await engine.dispose();
  }
}
