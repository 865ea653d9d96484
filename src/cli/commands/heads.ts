import { headsAnalysis } from '../../engine/heads/heads';
import { Engine } from '../../engine/engine';
import { MODEL_HELP, MODEL_OPTIONS, loadParams, parse, positiveInt, stderrProgress, UsageError } from '../args';
import { directionFile } from './direction';

export const summary = "each attention head's contribution to a direction and its attention; suffix analysis";

export const help = `refusal-lens heads --model <dir> --directions <file> --prompt <text> [--position <n>]
                   [--suffix <text> [--random-suffix <text>] [--top <k>]] [--json]

For the chat-formatted prompt, every head of every layer: its direct contribution to the selected
direction at a token position (z_h · W_O[h] · r̂, with z the attention output before o_proj; default
the last token, negative positions count from the end) and its attention weights over the tokens.
With --suffix (Arditi et al. 2024 §5): the prompt with the suffix against the prompt with
--random-suffix (default: no suffix): per-layer cosine of the last token's activation with the
direction, the top heads by contribution (default 10) with their change, and each one's share of
attention on the instruction's own tokens and on the suffix tokens.
${MODEL_HELP}`;

const OPTIONS = {
  ...MODEL_OPTIONS,
  directions: { type: 'string' },
  prompt: { type: 'string' },
  position: { type: 'string' },
  suffix: { type: 'string' },
  'random-suffix': { type: 'string' },
  top: { type: 'string' },
} as const;

export async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, OPTIONS);
  if (!values.directions) throw new UsageError('--directions is required');
  if (values.prompt === undefined) throw new UsageError('--prompt is required');
  if (values['random-suffix'] !== undefined && values.suffix === undefined) throw new UsageError('--random-suffix needs --suffix');
  if (values.top !== undefined && values.suffix === undefined) throw new UsageError('--top needs --suffix');
  const position = values.position === undefined ? undefined : Number(values.position);
  if (position !== undefined && !Number.isInteger(position)) throw new UsageError(`--position must be an integer (negative counts from the end), got '${values.position}'`);
  const top = positiveInt(values.top, '--top');
  const direction = await directionFile(values.directions);
  const engine = await Engine.load(loadParams(values), { progress: values.json ? undefined : stderrProgress });
  try {
    const d = direction(engine);
    const r = await headsAnalysis(engine, values.prompt, d, { position, suffix: values.suffix, baseline: values['random-suffix'], top, progress: values.json ? undefined : stderrProgress });
    if (values.json) {
      console.log(JSON.stringify({ ...r, direction: { name: d.name, layer: d.layer } }));
      return 0;
    }
    console.log(`direct contributions to '${d.name}' at token ${r.position} (${JSON.stringify(r.tokens[r.position])}), by layer and head:`);
    for (const layer of r.layers) {
      const row = r.heads.filter((h) => h.layer === layer.layer).map((h) => h.contribution.toFixed(3).padStart(8));
      console.log(`  layer ${String(layer.layer).padStart(2)} ${row.join(' ')}   (writer ${layer.writer.toFixed(3)}, bias ${layer.bias.toFixed(3)})`);
    }
    const best = [...r.heads].sort((a, b) => b.contribution - a.contribution).slice(0, Math.min(5, r.heads.length));
    for (const h of best) {
      const peak = h.attention.indexOf(Math.max(...h.attention));
      console.log(`  L${h.layer}H${h.head} ${h.contribution.toFixed(3)}: attends most to ${JSON.stringify(r.tokens[peak] ?? '?')} (${((h.attention[peak] ?? 0) * 100).toFixed(0)}%)`);
    }
    if (r.suffix) {
      const s = r.suffix;
      const base = s.baseline ? `'${s.baseline}'` : 'no suffix';
      console.log(`\nsuffix '${s.suffix}' against ${base}: cosine of the last token with the direction by layer`);
      for (const c of s.cosines) console.log(`  ${c.layer === s.cosines.length - 1 ? 'final' : `layer ${c.layer}`}`.padEnd(10) + ` ${c.suffix.toFixed(3)}  vs ${c.baseline.toFixed(3)}`);
      console.log(`top heads (by contribution on ${base}): contribution with the suffix, change, attention on suffix tokens`);
      for (const t of s.top) {
        console.log(`  L${t.layer}H${t.head}`.padEnd(9) + ` ${t.contribution.baseline.toFixed(3)} -> ${t.contribution.suffix.toFixed(3)} (${t.change >= 0 ? '+' : ''}${t.change.toFixed(3)}); suffix attention ${(t.attention.baseline.suffix * 100).toFixed(0)}% -> ${(t.attention.suffix.suffix * 100).toFixed(0)}%`);
      }
    }
    return 0;
  } finally {
    await engine.dispose();
  }
}
