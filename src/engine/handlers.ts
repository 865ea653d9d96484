// The engine process's method table: one loaded model at a time, backed by the same Engine class
// the CLI uses.
//
// Every long method cancels within one session run of its cancel note (tested in
// test/faults/cancellationLoad.test.ts). Where each checks its signal:
//   load      Engine.load / instrumentCached: between hashed chunks, after each synchronous step
//             (decode, instrument, encode), before and after creating the session
//   generate  runtime/generate: before every step (answers with the tokens so far, stopReason 'cancelled')
//   extract   runtime/forward before every batch; directions/extract before every candidate
//   score     runtime/forward before every batch; forwardVariants before every occlusion group
//   evaluate  directions/evaluate: before every prompt, after every generation, inside generate and forward
//   space     forward batches, after every layer's SVD, before every interaction run (directions/space)
//   capability directions/capability: before every item and text window, inside forward
//   intervene directions/intervene: before every prompt, after every generation, inside generate and forward
//   export    directions/export: after decoding and rewriting, inside every weight copy, after encoding
//   heads     before opening the per-head graph (and inside instrumentCached), before each of its runs
//   organism  ensureOrganism below: after building the weights and after writing each part
import { existsSync, promises as fs, readdirSync } from 'node:fs';
import path from 'node:path';
import { buildOrganismV2, writeOrganism } from '../modelgen/organism2';
import { conditionStream, type OrganismResult, type ParsedParamsOf } from '../protocol';
import { removeOrphans } from './atomicWrite';
import { checkpoint } from './cancel';
import { evaluateDirection } from './directions/evaluate';
import { exportAbliterated } from './directions/export';
import { extractRefusalDirection, scoreCandidates } from './directions/extract';
import { promptSet, splitTrainVal } from './directions/prompts';
import { scorePrompt } from './directions/score';
import { safetySpace } from './directions/space';
import { capabilityWithAblation } from './directions/capability';
import { BUILTIN_MC, BUILTIN_TEXT } from './directions/capabilitySet';
import { intervene } from './directions/intervene';
import { Judge } from './directions/judge';
import { logitLens } from './directions/lens';
import { Engine } from './engine';
import { headsAnalysis } from './heads/heads';
import { EngineError } from './model/errors';
import type { CallContext, Handlers } from './server';

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
        exhaustive: params.exhaustive,
        signal: ctx.signal,
        progress: ctx.progress,
      }),
    scoreCandidates: (params, ctx) => scoreCandidates(loaded(), { ...params, signal: ctx.signal, progress: ctx.progress }),
    score: (params, ctx) =>
      scorePrompt(loaded(), params.prompt, params.direction, { topK: params.topK, components: params.components, signal: ctx.signal, progress: ctx.progress }),
    async evaluate(params, ctx) {
      const judgeModel = params.judge ? await Engine.load({ ...lastLoad!, model: params.judge.model }, { progress: ctx.progress, signal: ctx.signal }) : undefined;
      try {
        return await evaluateDirection(loaded(), params.prompts, {
          direction: params.direction,
          coefficient: params.coefficient,
          maxNewTokens: params.maxNewTokens,
          conditions: params.conditions,
          categories: params.categories,
          signal: ctx.signal,
          progress: ctx.progress,
          onToken: (prompt, condition, text) => ctx.token(conditionStream(prompt, condition), 0, text),
          onResult: (result, index) => ctx.partial(index, result),
          judge: judgeModel && new Judge(judgeModel, params.judge),
        });
      } finally {
        await judgeModel?.dispose();
      }
    },
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
    capability: (params, ctx) =>
      capabilityWithAblation(loaded(), params.direction, { mc: params.mc ?? BUILTIN_MC, text: params.text ?? BUILTIN_TEXT, signal: ctx.signal, progress: ctx.progress }),
    intervene: (params, ctx) => intervene(loaded(), params.prompts, { ...params, signal: ctx.signal, progress: ctx.progress }),
    heads: (params, ctx) =>
      headsAnalysis(loaded(), params.prompt, params.direction, { position: params.position, suffix: params.suffix, baseline: params.baseline, top: params.top, signal: ctx.signal, progress: ctx.progress }),
    logitLens: (params) => logitLens(loaded(), params.vector, params.k),
    export: async (params, ctx) => ({ onnx: await exportAbliterated(loaded().info, params.vectors, params.out, { signal: ctx.signal, progress: ctx.progress }) }),
    organism: (params, ctx) => ensureOrganism(params.dir, params.seed, ctx),
    async shutdown() {
      await engine?.dispose();
      engine = undefined;
      setImmediate(() => process.exit(0));
      return {};
    },
  };
}

const complete = (dir: string) => existsSync(path.join(dir, 'ground_truth.json'));

/**
 * Writes the organism once: built, written into a private temp folder, and renamed into place, so
 * an interrupted or cancelled write never leaves a half model that a later run would take for a
 * complete one. Two engines (two windows) writing the same folder at once both succeed: the second
 * rename finds the first one's complete folder and discards its own copy, never the winner's.
 */
async function ensureOrganism(dir: string, seed: number, ctx: Pick<CallContext, 'signal' | 'progress'>): Promise<OrganismResult> {
  const promptsOf = () =>
    Object.fromEntries(
      readdirSync(path.join(dir, 'prompts'))
        .filter((f) => f.endsWith('.txt'))
        .map((f) => [path.basename(f, '.txt'), path.join(dir, 'prompts', f)]),
    );
  if (complete(dir)) return { dir, created: false, prompts: promptsOf() };
  ctx.progress('Building the built-in organism', 0);
  // Synchronous, a few seconds (calibration), and of a fixed size (only the seed varies): the check comes after it.
  const organism = buildOrganismV2({ seed });
  await checkpoint(ctx.signal);
  let created = false;
  let tmp: string | undefined;
  try {
    await fs.mkdir(path.dirname(dir), { recursive: true });
    await removeOrphans(path.dirname(dir), `${path.basename(dir)}.tmp-`);
    tmp = await fs.mkdtemp(`${dir}.tmp-${process.pid}-`);
    ctx.progress('Writing the built-in organism', 0.5);
    writeOrganism(tmp, { seed }, organism);
    await checkpoint(ctx.signal);
    created = await renameIntoPlace(tmp, dir);
  } catch (e) {
    if (e instanceof EngineError) throw e;
    throw new EngineError('INTERNAL', `could not write the built-in organism to ${dir}: ${(e as Error).message}`);
  } finally {
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  }
  return { dir, created, prompts: promptsOf() };
}

/** Renames the finished folder `tmp` to `dir`; false when another engine got there first (the caller deletes ours). */
async function renameIntoPlace(tmp: string, dir: string): Promise<boolean> {
  try {
    await fs.rename(tmp, dir);
    return true;
  } catch (e) {
    if (complete(dir)) return false;
    // Never deleted here: it could be another engine's folder in the instant before it completes.
    throw new EngineError('INTERNAL', `could not move the built-in organism into ${dir} (${(e as NodeJS.ErrnoException).code}): the folder exists without a complete model; delete it and try again`);
  }
}
