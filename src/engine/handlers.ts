// The engine process's method table: one loaded model at a time, backed by the same Engine class
// the CLI uses.
import { Engine } from './engine';
import { EngineError } from './model/errors';
import type { Handlers } from './server';

export function createHandlers(): Handlers {
  let engine: Engine | undefined;
  const loaded = () => {
    if (!engine) throw new EngineError('NOT_LOADED', 'no model is loaded; load one first (Refusal Lens: Select Model)');
    return engine;
  };
  return {
    async load(params, ctx) {
      const next = await Engine.load(params, { progress: ctx.progress, signal: ctx.signal });
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
    async shutdown() {
      await engine?.dispose();
      engine = undefined;
      setImmediate(() => process.exit(0));
      return {};
    },
  };
}
