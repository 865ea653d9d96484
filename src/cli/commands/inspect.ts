import { Engine } from '../../engine/engine';
import { MODEL_HELP, MODEL_OPTIONS, loadParams, parse, stderrProgress } from '../args';

export const summary = 'architecture, layers, hidden size and the residual hooks of a model';

export const help = `refusal-lens inspect --model <dir|hub-id> [--dtype D] [--json]

Architecture, layers, hidden size, dtype, the residual hook points found in the graph, and the
tokenizer and chat template. Builds (and caches) the instrumented graph but no inference session.

${MODEL_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, MODEL_OPTIONS);
  const { info } = await Engine.prepare(loadParams(values), { progress: values.json ? undefined : stderrProgress });
  if (values.json) {
    console.log(JSON.stringify({ ...info, hidden_size: info.hiddenSize, residual_hooks: info.residualHooks }));
    return 0;
  }
  console.log(`model          ${info.model} (${info.source}: ${info.onnxFile})
architecture   ${info.architecture} (model_type ${info.modelType})
layers         ${info.layers}
hidden size    ${info.hiddenSize} (${info.heads} heads, ${info.kvHeads} KV heads)
vocabulary     ${info.vocabSize}
dtype          ${info.dtype}
residual ops   ${info.residualOps.join(', ')}
hooks          ${info.residualHooks}: ${info.hooks.join(', ')}
tokenizer      ${info.tokenizerClass}; chat template ${info.hasChatTemplate ? 'present' : 'absent'}
instrumented   ${info.instrumentedFile}${info.cacheHit ? ' (cached)' : ''}`);
  return 0;
}
