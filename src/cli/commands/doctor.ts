import path from 'node:path';
import { Engine } from '../../engine/engine';
import { MODEL_HELP, MODEL_OPTIONS, loadParams, parse, stderrProgress } from '../args';

export const summary = 'check that the instrumented graph reproduces the original logits';

export const help = `refusal-lens doctor --model <dir> [--json]

Instruments the model and checks on a few prompts that the instrumented graph with steering off
gives the original logits, both run on the execution provider in use (--provider; CPU when the one
asked for cannot start, with the reason). Prints the provider, the max abs difference and PASS/FAIL;
exits 0 only on PASS.

${MODEL_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, MODEL_OPTIONS);
  const engine = await Engine.load(loadParams(values), { progress: values.json ? undefined : stderrProgress });
  try {
    const r = await engine.doctor({});
    if (values.json) {
      console.log(JSON.stringify({ ...r, ...(engine.info.providerFallback ? { provider_fallback: engine.info.providerFallback } : {}) }));
    } else {
      if (engine.info.providerFallback) console.error(`warning: ${engine.info.providerFallback}`);
      console.log(`layout         ${r.layout}: ${r.graphs.map((g) => path.basename(g)).join(' -> ')}
provider       ${r.provider}
residual hooks ${r.residual_hooks}
prompts        ${r.prompts}
max abs diff   ${r.max_abs_diff.toExponential(3)} (tolerance ${r.tolerance.toExponential(1)})
${r.ok ? 'PASS' : 'FAIL'}`);
    }
    return r.ok ? 0 : 1;
  } finally {
    await engine.dispose();
  }
}
