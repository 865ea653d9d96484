// `npm run bench [-- --quick] [--json]`: Refusal Lens at the scale users run it (a Qwen2.5-0.5B-sized
// decoder, fp32 and q4), each number next to a baseline measured in the same run: the original
// graph, plain transformers.js, the forward passes a method needs, the machine's own matmul limit,
// the model's file size and PyTorch eager. Targets are printed and marked; nothing here fails.
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { AutoModelForCausalLM, env, Tensor } from '@huggingface/transformers';
import { postInstructionCount, residualMeans } from '../src/engine/directions/extract';
import { occlusionTriggers, scorePrompt, unit } from '../src/engine/directions/score';
import { Engine } from '../src/engine/engine';
import { createSession, Decoder } from '../src/engine/runtime/decoder';
import { forward } from '../src/engine/runtime/forward';
import { generate } from '../src/engine/runtime/generate';
import { hookNames } from '../src/engine/runtime/hooks';
import { seededGaussian, seededRandom } from '../src/engine/runtime/random';
import { steeringTensors } from '../src/engine/runtime/steering';
import { compare, formatTable, machine, matmulLimit, pairedRatio, prefillFlops, row, Row } from './measure';
import { BenchDtype, BenchModel, benchCacheDir, ensureModel } from './models';
import { scoringMemory } from './memory';
import { ensureOrganism, type Shape } from './organism';
import { paperScaleExtract } from './paperScale';
import { torchPrefill } from './torch';

const { values: flags } = parseArgs({ options: { quick: { type: 'boolean', default: false }, json: { type: 'boolean', default: false }, only: { type: 'string' } } });
const quick = flags.quick;
/** `--only forward,score,memory,paper-scale,torch`: the sections to run (default: all). */
const SECTIONS = ['forward', 'score', 'memory', 'paper-scale', 'torch'];
const only = flags.only?.split(',').map((x) => x.trim());
const unknown = only?.filter((x) => !SECTIONS.includes(x)) ?? [];
if (unknown.length) throw new Error(`--only: unknown section(s) ${unknown.join(', ')}; the sections are ${SECTIONS.join(', ')}`);
const runs = (section: string) => !only || only.includes(section);
/** Sizes and counts; --quick keeps the model sizes and shrinks everything else. */
const P = quick
  ? { prefill: [64, 256], runs: 3, midRuns: 3, heavyRuns: 1, decodePrompt: 16, decode: 8, extract: 16, occlusion: 32, longPrompt: 1024, dtypes: ['q4'] as BenchDtype[], paperScale: [{ shape: '0.5B' as Shape, train: 32, targetMinutes: 3 }] }
  : { prefill: [64, 512], runs: 7, midRuns: 5, heavyRuns: 3, decodePrompt: 32, decode: 64, extract: 128, occlusion: 64, longPrompt: 4096, dtypes: ['q4', 'fp32'] as BenchDtype[], paperScale: [{ shape: '0.5B' as Shape, train: 128, targetMinutes: 3 }, { shape: '1.5B' as Shape, train: 128, targetMinutes: 10 }] };
/** The layer whose direction scoring and occlusion read: about 60% of the depth, where refusal directions usually sit. */
const layerOf = (layers: number) => Math.floor(0.6 * layers);

const log = (m: string) => process.stderr.write(`${m}\n`);
const rows: Row[] = [];
const add = (r: Row) => {
  rows.push(r);
  log(`  ${r.name}: ${r.value === null ? r.note : `${r.value.toPrecision(4)} ${r.unit}, ratio ${r.ratio?.toFixed(3)}${r.target ? ` (target ${r.target}: ${r.met ? 'met' : 'NOT met'})` : ''}`}`);
};

/** Deterministic prompts: random ids from the vocabulary, or random English words for chat prompts. */
function randomIds(n: number, seed: number, vocab: number): number[] {
  const r = seededRandom(seed);
  return Array.from({ length: n }, () => 4 + Math.floor(r() * (vocab - 4)));
}
function randomText(words: string[], n: number, seed: number): string {
  const r = seededRandom(seed);
  return Array.from({ length: n }, () => words[Math.floor(r() * words.length)].replace(/[^a-z]/g, '') || 'word').join(' ');
}
/** An instruction that chat-encodes to `tokens` tokens: one per word plus 5 template tokens (<|im_start|> user … <|im_end|> <|im_start|> assistant). */
const chatPrompt = (model: BenchModel, tokens: number) => randomText(model.words, tokens - 5, 5);
function randomDirection(h: number, seed: number): number[] {
  const g = seededGaussian(seed);
  return Array.from({ length: h }, g);
}

/** The original, uninstrumented graph in a session built exactly like the engine's (as doctor does). */
async function originalDecoder(engine: Engine): Promise<Decoder> {
  const session = await createSession(engine.info.onnxFile, path.dirname(engine.info.onnxFile), {});
  const d = engine.decoder;
  return new Decoder(session, d.io, d.layers, d.hidden, d.cache, d.padId, false);
}

const prefillIds = (tokens: number, vocab: number) => randomIds(tokens, tokens, vocab);

/** Returns the time and last-position logits of the largest prefill (PyTorch is compared to it). */
async function prefill(engine: Engine, original: Decoder, model: BenchModel, dtype: BenchDtype, limit: number) {
  const hooks = hookNames(model.config.layers);
  let largest: { ms: number; lastLogits: Float32Array } = { ms: 0, lastLogits: new Float32Array() };
  for (const tokens of P.prefill) {
    const ids = prefillIds(tokens, model.config.vocabSize);
    const runs = tokens > 128 ? P.midRuns : P.runs;
    // Like for like: every residual plus all-position logits, against the original graph's logits.
    const t = await compare(
      runs,
      () => engine.forward({ inputs: [{ ids }], hooks, logits: 'all' }),
      () => forward(original, [ids], { hooks: [], logits: 'all' }),
      // How Score runs it: every residual, the last position's logits.
      () => engine.forward({ inputs: [{ ids }], hooks, logits: 'last' }),
    );
    const [ours, , scoring] = t.ms;
    add(row(`prefill ${tokens} tok, ${dtype}: all ${hooks.length} residuals + logits vs original graph`, ours, 'ms', pairedRatio(t, 0, 1), '<=', 1.1));
    add(row(`prefill ${tokens} tok, ${dtype}: as Score runs it (last logits) vs original graph`, scoring, 'ms', pairedRatio(t, 2, 1), null));
    const gflops = prefillFlops(model.config, tokens) / (ours / 1000) / 1e9;
    add(row(`prefill ${tokens} tok, ${dtype}: throughput vs matmul limit`, gflops, 'GFLOP/s', gflops / limit, tokens >= 512 ? '>=' : null, 0.5));
    const [out] = (await engine.forward({ inputs: [{ ids }], hooks: [], logits: 'last' })).items;
    largest = { ms: ours, lastLogits: out.logits! };
  }
  return largest;
}

async function decode(engine: Engine, model: BenchModel, dtype: BenchDtype): Promise<void> {
  const { layers, hidden } = model.config;
  const prompt = randomIds(P.decodePrompt, 7, model.config.vocabSize);
  const steering = steeringTensors({ ablate: [randomDirection(hidden, 3)], positions: 'all' }, layers, hidden);
  env.allowRemoteModels = false;
  const plain = await AutoModelForCausalLM.from_pretrained(model.dir, { dtype, local_files_only: true });
  try {
    const inputIds = new Tensor('int64', BigInt64Array.from(prompt.map(BigInt)), [1, prompt.length]);
    const mask = new Tensor('int64', new BigInt64Array(prompt.length).fill(1n), [1, prompt.length]);
    // eos never stops either side early: both produce exactly P.decode greedy tokens.
    const t = await compare(
      P.midRuns,
      () => generate(engine.decoder, prompt, { maxNewTokens: P.decode, eosIds: [], steering, hooks: [], useCache: true }),
      () => plain.generate({ input_ids: inputIds, attention_mask: mask, max_new_tokens: P.decode, min_new_tokens: P.decode, do_sample: false }),
    );
    const [ours, theirs] = t.ms;
    add(row(`greedy decode ${P.decode} tok, ${dtype}: with ablation vs plain transformers.js generate`, (P.decode * 1000) / ours, 'tok/s', pairedRatio(t, 0, 1), '<=', 1.15,
      `transformers.js ${((P.decode * 1000) / theirs).toFixed(1)} tok/s`));
  } finally {
    await plain.dispose();
  }
}

async function extraction(engine: Engine, model: BenchModel, dtype: BenchDtype): Promise<void> {
  // Instruction lengths of typical harmful/harmless datasets: 6 to 40 words.
  const prompts = (seed: number) =>
    Array.from({ length: P.extract }, (_, i) => engine.tokenizer.encode(randomText(model.words, 6 + ((i * 7919 + seed) % 35), seed * 1000 + i), { chat: true }).ids);
  const harmful = prompts(1);
  const harmless = prompts(2);
  const n = postInstructionCount(engine);
  const t = await compare(
    P.heavyRuns,
    async () => [await residualMeans(engine, harmful, n), await residualMeans(engine, harmless, n)],
    // The same passes through the same session, nothing read back but the last logits.
    async () => [await forward(engine.decoder, harmful, { hooks: [], logits: 'last' }), await forward(engine.decoder, harmless, { hooks: [], logits: 'last' })],
  );
  const tokens = [...harmful, ...harmless].reduce((a, s) => a + s.length, 0);
  add(row(`extraction ${P.extract}+${P.extract} prompts (${tokens} tok), ${dtype}: resid_pre means, ${n} positions × ${model.config.layers} layers vs its forward passes`,
    t.ms[0] / 1000, 's', pairedRatio(t, 0, 1), '<=', 1.25));
}

/** What the Score panel runs when a prompt is edited: projections at every layer, next tokens and occlusion. */
async function liveScore(engine: Engine, model: BenchModel, dtype: BenchDtype): Promise<void> {
  const prompt = chatPrompt(model, 64);
  const direction = { vector: randomDirection(model.config.hidden, 4), layer: layerOf(model.config.layers) };
  const t = await compare(P.midRuns, () => scorePrompt(engine, prompt, direction), () => forward(engine.decoder, [engine.tokenizer.encode(prompt, { chat: true }).ids], { hooks: [], logits: 'last' }));
  const seconds = t.ms[0] / 1000;
  add({ name: `live Score of a 64-tok prompt, ${dtype}: projections at every layer + occlusion`, value: seconds, unit: 's', ratio: pairedRatio(t, 0, 1), target: '<= 2 s', met: seconds <= 2, note: 'ratio: vs one forward pass' });
}

async function occlusion(engine: Engine, model: BenchModel, dtype: BenchDtype): Promise<void> {
  const ids = engine.tokenizer.encode(chatPrompt(model, P.occlusion), { chat: true }).ids;
  const r = unit(randomDirection(model.config.hidden, 4));
  const layer = layerOf(model.config.layers);
  const t = await compare(
    P.midRuns,
    () => occlusionTriggers(engine, ids, r, layer),
    () => forward(engine.decoder, [ids], { hooks: [], logits: 'last' }),
  );
  const [start, end] = engine.tokenizer.instructionSpan(ids);
  add(row(`occlusion of ${end - start} tokens in a ${ids.length}-tok prompt, ${dtype}: vs one forward pass`, t.ms[0], 'ms', pairedRatio(t, 0, 1), '<=', 20));
}

const cacheDir = path.join(benchCacheDir(), 'engine-cache');

async function main(): Promise<void> {
  const started = Date.now();
  const info = machine();
  log(`refusal-lens bench${quick ? ' --quick' : ''} on ${info.cpu}, ${info.cores} cores`);
  const model = ensureModel(log);

  let fp32Prefill: Awaited<ReturnType<typeof prefill>> | undefined;
  for (const dtype of P.dtypes) {
    if (!runs('forward') && !(runs('score') && dtype === 'q4')) continue;
    const limit = runs('forward') ? await matmulLimit(P.runs, dtype) : undefined;
    if (limit) add(row(`matmul limit, ${dtype}: one ${limit.shape} in onnxruntime`, limit.gflops, 'GFLOP/s', 1, null));
    log(`\n${dtype}: loading`);
    const engine = await Engine.load({ model: model.dir, dtype, cacheDir, allowRemote: false });
    try {
      if (limit) {
        const original = await originalDecoder(engine);
        const largest = await prefill(engine, original, model, dtype, limit.gflops);
        if (dtype === 'fp32') fp32Prefill = largest;
        await original.session.release();
        await decode(engine, model, dtype);
        if (dtype === 'q4') {
          await extraction(engine, model, dtype);
          await occlusion(engine, model, dtype);
        }
      }
      if (dtype === 'q4' && runs('score')) await liveScore(engine, model, dtype);
    } finally {
      await engine.dispose();
    }
  }
  const layer = layerOf(model.config.layers);
  if (runs('memory')) log('\npeak memory');
  for (const dtype of runs('memory') ? P.dtypes : []) {
    const long = dtype === 'q4' ? { prompt: chatPrompt(model, P.longPrompt), tokens: P.longPrompt } : undefined;
    for (const r of await scoringMemory(model, dtype, cacheDir, chatPrompt(model, P.occlusion), { vector: randomDirection(model.config.hidden, 4), layer }, long)) add(r);
  }
  if (runs('paper-scale')) log('\npaper-scale extract');
  for (const c of runs('paper-scale') ? P.paperScale : []) {
    const o = ensureOrganism(c.shape, log);
    const outDir = path.join(benchCacheDir(), 'paper-scale-out');
    const rowsOf = await paperScaleExtract({ label: `${c.shape}-shape q4 organism`, dir: o.dir, cacheDir, harmful: o.harmful, harmless: o.harmless, train: c.train, targetMinutes: c.targetMinutes, exhaustive: true, outDir, log });
    for (const r of rowsOf) add(r);
  }
  if (runs('torch')) {
    log('\nPyTorch eager');
    const tokens = P.prefill.at(-1)!;
    for (const r of await torchPrefill(model, prefillIds(tokens, model.config.vocabSize), P.heavyRuns, fp32Prefill, log)) add(r);
  }

  const seconds = (Date.now() - started) / 1000;
  const table = [
    `Refusal Lens benchmark${quick ? ' (--quick)' : ''}${only ? ` (--only ${only.join(',')})` : ''}: Qwen2.5-0.5B-shaped decoder (24 layers, hidden 896, 14/2 heads, vocab 151936, tied), random weights (paper-scale rows: the planted organism v2 at that shape, untied), torch-style export`,
    `machine: ${Object.entries(info).map(([k, v]) => `${k} ${v}`).join(', ')}, load average at end ${os.loadavg()[0].toFixed(2)}; ${seconds.toFixed(0)} s`,
    'ratio = measured / baseline measured in the same run, interleaved (throughput rows: achieved / matmul limit)\n',
    formatTable(rows),
  ].join('\n');
  // With --json the table still goes to stderr, so one run yields both.
  if (flags.json) {
    log(`\n${table}`);
    console.log(JSON.stringify({ machine: { ...info, loadAverageAtEnd: os.loadavg()[0].toFixed(2), quick, seconds: Math.round(seconds) }, results: rows }, null, 2));
  } else console.log(`\n${table}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
