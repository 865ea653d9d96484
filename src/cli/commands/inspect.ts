import { Engine } from '../../engine/engine';
import { MODEL_HELP, MODEL_OPTIONS, loadParams, parse, stderrProgress } from '../args';

export const summary = 'architecture, layers, hidden size and the residual hooks of a model';

export const help = `refusal-lens inspect --model <dir|hub-id> [--dtype D] [--json]

Architecture, layers, hidden size, dtype, the residual hook points found in the graph, and the
tokenizer and chat template: the post-instruction tokens and refusal tokens found by rendering it,
the template variables in effect and an example prompt. Builds (and caches) the instrumented graph
but no inference session.

${MODEL_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, MODEL_OPTIONS);
  const { info } = await Engine.prepare(loadParams(values), { progress: values.json ? undefined : stderrProgress });
  if (values.json) {
    const chat = info.chat;
    console.log(
      JSON.stringify({
        ...info,
        hidden_size: info.hiddenSize,
        residual_hooks: info.residualHooks,
        ...(chat
          ? {
              post_instruction_tokens: chat.postInstructionTokens,
              post_instruction_token_ids: chat.postInstructionTokenIds,
              refusal_tokens: chat.refusalTokens,
              refusal_token_ids: chat.refusalTokenIds,
              template: { system: chat.template.system, system_prompt: chat.template.systemPrompt, default_system_prompt: chat.template.defaultSystemPrompt, enable_thinking: chat.template.enableThinking, date: chat.template.date },
              example_prompt: chat.examplePrompt,
            }
          : {}),
      }),
    );
    return 0;
  }
  const chat = info.chat;
  const tokens = (strings: string[], ids: number[]) => strings.map((t, i) => `${JSON.stringify(t)} ${ids[i]}`).join(', ');
  console.log(`model          ${info.model} (${info.source}: ${info.onnxFile})
layout         ${info.layout}${info.embedFile ? ` (embedding graph ${info.embedFile}, then the decoder on inputs_embeds)` : ''}
architecture   ${info.architecture} (model_type ${info.modelType})
layers         ${info.layers}
hidden size    ${info.hiddenSize} (${info.heads} heads, ${info.kvHeads} KV heads)
vocabulary     ${info.vocabSize}
dtype          ${info.dtype}
residual ops   ${info.residualOps.join(', ')}
hooks          ${info.residualHooks}: ${info.hooks.join(', ')}
tokenizer      ${info.tokenizerClass}, ${info.tokenizerSize} entries; chat template ${info.hasChatTemplate ? 'present' : 'absent'}
instrumented   ${info.instrumentedFile}${info.cacheHit ? ' (cached)' : ''}`);
  if (chat) {
    const t = chat.template;
    console.log(`post-instr.    ${tokens(chat.postInstructionTokens, chat.postInstructionTokenIds)}
refusal tokens ${tokens(chat.refusalTokens, chat.refusalTokenIds)}
system prompt  ${t.system}${t.systemPrompt ? ` ${JSON.stringify(t.systemPrompt)}` : ''}${t.defaultSystemPrompt ? ` (template default ${JSON.stringify(t.defaultSystemPrompt)})` : ''}
thinking       ${t.enableThinking === null ? 'not in the template' : `enable_thinking=${t.enableThinking}`}
date           ${t.date ?? 'not in the template'}
example prompt ${JSON.stringify(chat.examplePrompt)}`);
  }
  return 0;
}
