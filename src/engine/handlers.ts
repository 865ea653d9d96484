// The engine process's method table: one loaded model at a time, backed by the same Engine class
// the CLI uses.
import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { writeOrganism } from '../modelgen/organism';
import type { OrganismResult, ParsedParamsOf } from '../protocol';
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
    score: (params, ctx) => scorePrompt(loaded(), params.prompt, params.direction, { topK: params.topK, components: params.components, signal: ctx.signal }),
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
        onResult: (result, index) => ctx.partial(index, result),
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
    organism: async (params) => ensureOrganism(params.dir, params.seed),
    async shutdown() {
      await engine?.dispose();
      engine = undefined;
      setImmediate(() => process.exit(0));
      return {};
    },
  };
}

/**
 * Writes the organism once: into a temporary sibling folder renamed into place, so an interrupted
 * write never leaves a half model that a later run would take for a complete one.
 */
function ensureOrganism(dir: string, seed: number): OrganismResult {
  const promptsOf = () =>
    Object.fromEntries(
      readdirSync(path.join(dir, 'prompts'))
        .filter((f) => f.endsWith('.txt'))
        .map((f) => [path.basename(f, '.txt'), path.join(dir, 'prompts', f)]),
    );
  if (existsSync(path.join(dir, 'ground_truth.json'))) return { dir, created: false, prompts: promptsOf() };
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    writeOrganism(tmp, { seed });
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw new EngineError('INTERNAL', `could not write the built-in organism to ${dir}: ${(e as Error).message}`);
  }
  return { dir, created: true, prompts: promptsOf() };
}
