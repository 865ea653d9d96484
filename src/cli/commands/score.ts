import { scorePrompt } from '../../engine/directions/score';
import { Engine } from '../../engine/engine';
import { MODEL_HELP, MODEL_OPTIONS, loadParams, parse, stderrProgress, UsageError } from '../args';
import { directionFile } from './direction';

export const summary = 'per-token projections onto a direction at every layer, refusal metric, trigger tokens';

export const help = `refusal-lens score --model <dir> --directions <file> --prompt <text> [--json]

For the chat-formatted prompt: the projection of resid_pre onto the selected direction (unit) at
every layer and token, the refusal metric (log-odds of the refusal tokens at the last position),
the most likely next tokens, and the instruction tokens ranked by occlusion (how much removing each
lowers the projection at the direction's layer, last position; occlusion, not LRP).
${MODEL_HELP}`;

const OPTIONS = { ...MODEL_OPTIONS, directions: { type: 'string' }, prompt: { type: 'string' } } as const;

export async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, OPTIONS);
  if (!values.directions) throw new UsageError('--directions is required');
  if (values.prompt === undefined) throw new UsageError('--prompt is required');
  const direction = await directionFile(values.directions);
  const engine = await Engine.load(loadParams(values), { progress: values.json ? undefined : stderrProgress });
  try {
    const d = direction(engine);
    const r = await scorePrompt(engine, values.prompt, d);
    if (values.json) {
      console.log(
        JSON.stringify({
          tokens: r.tokens,
          ids: r.ids,
          instruction: r.instruction,
          projections: r.projections,
          refusal_score: r.refusalScore,
          next_tokens: r.next,
          triggers: r.triggers,
          trigger_method: r.triggerMethod,
          direction: { name: d.name, layer: d.layer },
        }),
      );
    } else {
      const at = r.projections[d.layer];
      console.log(`projection onto '${d.name}' at layer ${d.layer}:`);
      r.tokens.forEach((t, i) => console.log(`  ${JSON.stringify(t).padEnd(20)} ${at[i].toFixed(3)}`));
      console.log(`refusal metric ${r.refusalScore.toFixed(3)}; next: ${r.next.slice(0, 5).map((n) => `${JSON.stringify(n.token)} ${(n.p * 100).toFixed(1)}%`).join(', ')}`);
      console.log(`triggers (occlusion): ${r.triggers.slice(0, 5).map((t) => `${JSON.stringify(t.token)} ${t.attribution.toFixed(3)}`).join(', ')}`);
    }
    return 0;
  } finally {
    await engine.dispose();
  }
}
