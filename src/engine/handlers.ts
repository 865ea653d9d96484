// The engine process's method table: one loaded model at a time, backed by the same Engine class
// the CLI uses.
import type { ParsedParamsOf } from '../protocol';
import { CONDITIONS, evaluateDirection } from './directions/evaluate';
import { exportAbliterated } from './directions/export';
import { extractRefusalDirection } from './directions/extract';
import { promptSet, splitTrainVal } from './directions/prompts';
import { scorePrompt } from './directions/score';
import { safetySpace } from './directions/space';
import { Engine } from './engine';
import { EngineError } from './model/errors';
import type { Handlers } from './server';

export function createHandlers(): Handlers {
  let engine: Engine | undefined;
  let lastLoad: ParsedParamsOf<'load'> | undefined;
  const loaded = () => {
    if (!engine) throw new EngineError('NOT_LOADED', 'no model is loaded; load one first (Refusal Lens: Select Model)');
    return engine;
  };
  return {
    async load(params, ctx) {
      const next = await Engine.load(params, { progress: ctx.progress, signal: ctx.signal });
      lastLoad = params;
      // Swap only once the new model is ready, so a failed load keeps the previous one usable.
      const previous = engine;
      engine = next;
      await previous?.dispose();
      return next.info;
    },
    info: async () => loaded().info,
    tokenize: async (params) => loaded().tokenize(params),
    forward: (params, ctx) => loaded().forward(params, { signal: ctx.signal }),
    generate: (params, ctx) => loaded().generate(params, { signal: ctx.signal, token: ctx.token }),
    doctor: (params) => loaded().doctor(params),
    extract: (params, ctx) =>
      extractRefusalDirection(loaded(), {
        harmful: splitTrainVal(promptSet('harmful', params.harmful)),
        harmless: splitTrainVal(promptSet('harmless', params.harmless)),
        filterPrompts: params.filterPrompts,
        klThreshold: params.klThreshold,
        refusalTokens: params.refusalTokens,
        signal: ctx.signal,
        progress: ctx.progress,
      }),
    score: (params, ctx) => scorePrompt(loaded(), params.prompt, params.direction, { topK: params.topK, signal: ctx.signal }),
    evaluate: (params, ctx) =>
      evaluateDirection(loaded(), params.prompts, {
        direction: params.direction,
        coefficient: params.coefficient,
        maxNewTokens: params.maxNewTokens,
        conditions: params.conditions,
        signal: ctx.signal,
        progress: ctx.progress,
        // Streams every condition's tokens: index encodes prompt and condition for the host.
        onToken: (prompt, condition, text) => ctx.token(prompt * 3 + CONDITIONS.indexOf(condition), 0, text),
      }),
    async space(params, ctx) {
      const aligned = loaded();
      const base = params.base
        ? await Engine.load({ ...lastLoad!, model: params.base }, { progress: ctx.progress, signal: ctx.signal })
        : undefined;
      try {
        return await safetySpace(aligned, base, { ...params, signal: ctx.signal, progress: ctx.progress });
      } finally {
        await base?.dispose();
      }
    },
    export: async (params) => ({ onnx: await exportAbliterated(loaded().info, params.vectors, params.out) }),
    async shutdown() {
      await engine?.dispose();
      engine = undefined;
      setImmediate(() => process.exit(0));
      return {};
    },
  };
}
