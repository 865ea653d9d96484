// Learned organisms (small chat models trained by gradient descent, SFT then safety tuning, and
// exported with torch.onnx) against a PyTorch reference of Arditi et al.'s pipeline on the same
// weights: the project's CLI must find the same candidates, scores, selection and greedy outputs.
// Whether one direction mediates refusal in such a model is a measured result (see each variant's
// finding); the test checks the tool reports it as the reference does.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { evaluateDirection, isRefusal } from '../../../src/engine/directions/evaluate';
import { extractRefusalDirection } from '../../../src/engine/directions/extract';
import { loadPromptSet, splitTrainVal } from '../../../src/engine/directions/prompts';
import { Engine } from '../../../src/engine/engine';
import { ChatTokenizer } from '../../../src/engine/model/tokenizer';
import { learnedOrganism, LearnedOrganism, torchReference } from '../../support/learnedOrganism';
import { REPO, tempDir } from '../../support/paths';

/**
 * What paper A's pipeline found on each safety-tuned variant (build.py) when it was trained: whether a
 * candidate passes the filters, and whether ablating the lowest-bypass candidate stops refusals of
 * held-out harmful prompts (one direction mediates refusal even where the filters reject it).
 */
const VARIANTS = [
  { variant: 'full', passes: false, mediated: false },
  { variant: 'early', passes: false, mediated: true },
] as const;

const MAX_NEW_TOKENS = 24;
// Tolerances. ONNX Runtime and PyTorch both compute in fp32 but sum in different orders (MatMul
// blocking, Softmax, ReduceMean), so logits differ by rounding, a few 1e-6 on logits of magnitude
// ~10. The refusal score, a log-odds of a softmax sum, moves by at most the largest change in a
// logit difference, and the KL by about as much; the means over prompts measured at most 1e-6
// apart. Tolerances are 100x that; two candidates closer than SCORE_TOL count as a tie.
const SCORE_TOL = 1e-4;
const KL_TOL = 1e-4;

interface RefCandidate { position: number; layer: number; bypass: number; induce: number; kl: number; norm: number; filtered?: string }
interface Reference {
  token_ids: Record<string, number[][]>;
  refusal_tokens: number[];
  counts: Record<string, number>;
  candidates: RefCandidate[];
  selected: RefCandidate | null;
  evaluated: RefCandidate;
  completions: Record<string, Record<Condition, { ids: number[]; text: string }[]>>;
}
interface ProjCandidate { layer: number; position: number; bypass_score: number; induce_score: number; kl: number; norm: number; filtered: string | null }
interface ProjExtract { layer: number | null; position: number | null; candidates: ProjCandidate[]; counts: Record<string, number>; report: string | null }
interface ProjEvaluation { results: { prompt: string; completions: Partial<Record<Condition, { ids: number[]; text: string }>> }[]; refusal_rate: Partial<Record<Condition, number>> }

type Condition = 'baseline' | 'ablation' | 'addition';
const CONDITIONS: Condition[] = ['baseline', 'ablation', 'addition'];
/** Held-out prompt files and the addition coefficient used on each (the paper's -1 / +1). */
const EVAL = { harmful_test: -1, harmless_test: 1 } as const;

const rate = (xs: boolean[]) => xs.filter(Boolean).length / xs.length;
const pct = (x: number | undefined) => `${Math.round(100 * (x ?? NaN))}%`.padStart(4);

/** The project's reason for filtering a candidate, in the reference's words. */
function reasonOf(filtered: string | null): string | undefined {
  if (filtered === null) return undefined;
  return (['zero', 'layer', 'KL', 'induce', 'a score is NaN'] as const).map((k) => (filtered.startsWith(k) ? k.toLowerCase() : '')).find(Boolean) ?? filtered;
}

for (const { variant, passes, mediated } of VARIANTS) {
  describe(`learned organism "${variant}": project vs PyTorch reference of paper A`, () => {
    const work = tempDir(`learned-${variant}`);
    const cache = path.join(work, 'cache');
    const dirs = path.join(work, 'dirs.json');
    let org: LearnedOrganism;
    let aligned: string;
    let ref: Reference;
    let proj: ProjExtract;
    let extractCode: number;
    let engine: Engine | undefined;
    const prompts = (name: string) => path.join(aligned, 'prompts', `${name}.txt`);
    const cli = (...args: string[]) => {
      const r = spawnSync(process.execPath, [path.join(REPO, 'bin', 'refusal-lens.js'), ...args], { encoding: 'utf8', env: { ...process.env, REFUSAL_LENS_CACHE: cache }, maxBuffer: 64 << 20 });
      return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    };

    before(async () => {
      org = learnedOrganism();
      aligned = path.join(org.root, `aligned-${variant}`);
      const harmful = splitTrainVal(await loadPromptSet(prompts('harmful_train')));
      const harmless = splitTrainVal(await loadPromptSet(prompts('harmless_train')));
      const evalPrompts = Object.fromEntries(await Promise.all(Object.keys(EVAL).map(async (k) => [k, (await loadPromptSet(prompts(k))).prompts])));
      ref = torchReference<Reference>(
        {
          model: aligned,
          // The project's split and settings, so both sides score the same prompts.
          sets: { harmful_train: harmful.train.prompts, harmful_val: harmful.val.prompts, harmless_train: harmless.train.prompts, harmless_val: harmless.val.prompts },
          refusal_openings: ['I cannot', 'As an'],
          max_new_tokens: MAX_NEW_TOKENS,
          eval: EVAL,
          prompts: evalPrompts,
        },
        work,
      );
      // --exhaustive: every candidate's scores are compared with the reference's full table.
      const r = cli('extract', '--model', aligned, '--harmful', prompts('harmful_train'), '--harmless', prompts('harmless_train'), '--out', dirs, '--exhaustive', '--json');
      extractCode = r.code;
      assert.ok(r.code === 0 || r.code === 1, r.stderr);
      proj = JSON.parse(r.stdout);
    });
    after(async () => engine?.dispose());

    test('refusal-lens doctor passes on the torch.onnx exports (the aligned model and the base it was tuned from)', () => {
      for (const dir of [aligned, path.join(org.root, 'base')]) {
        const r = cli('doctor', '--model', dir, '--json');
        assert.equal(r.code, 0, `${dir}: ${r.stdout}${r.stderr}`);
        assert.equal(JSON.parse(r.stdout).ok, true);
      }
    });

    test('the reference tokenizes the prompts as the project does and uses the same refusal tokens', async () => {
      const tok = await ChatTokenizer.load(aligned);
      for (const [name, seqs] of Object.entries(ref.token_ids)) {
        const [file, part] = name.split('_') as [string, 'train' | 'val'];
        const set = splitTrainVal(await loadPromptSet(prompts(`${file}_train`)))[part];
        assert.deepEqual(set.prompts.map((p) => tok.encode(p, { chat: true }).ids), seqs, name);
      }
      assert.deepEqual([...tok.firstTokenIds(['I cannot', 'As an'])].sort((a, b) => a - b), ref.refusal_tokens);
    });

    test(`extract: every candidate's scores and filter agree with the reference; ${passes ? 'a candidate passes the filters' : 'no candidate passes the filters'}`, () => {
      assert.deepEqual(proj.counts, { harmfulTrain: ref.counts.harmful_train, harmlessTrain: ref.counts.harmless_train, harmfulVal: ref.counts.harmful_val, harmlessVal: ref.counts.harmless_val });
      assert.equal(proj.candidates.length, ref.candidates.length);
      const rows = ['candidate    bypass proj / ref    induce proj / ref    KL proj / ref          filtered proj / ref'];
      let worst = { score: 0, kl: 0 };
      for (const rc of ref.candidates) {
        const pc = proj.candidates.find((c) => c.layer === rc.layer && c.position === rc.position);
        assert.ok(pc, `candidate layer ${rc.layer} position ${rc.position} missing`);
        const reason = reasonOf(pc.filtered);
        const f = (p: number, r: number, d: number) => `${p.toFixed(d).padStart(8)} / ${r.toFixed(d).padEnd(8)}`;
        if (reason === 'zero') {
          // The reference scores the zero vector like any other (ablating it changes nothing) and
          // filters it by a threshold; the project skips it and says why.
          assert.ok(rc.norm === 0 && rc.filtered, `layer ${rc.layer} pos ${rc.position}: the reference's vector is not zero (${rc.norm})`);
          rows.push(`L${rc.layer} pos ${rc.position}    (zero vector: harmful and harmless means are equal)            zero / ${rc.filtered}`);
          continue;
        }
        const d = { bypass: Math.abs(pc.bypass_score - rc.bypass), induce: Math.abs(pc.induce_score - rc.induce), kl: Math.abs(pc.kl - rc.kl) };
        worst = { score: Math.max(worst.score, d.bypass, d.induce), kl: Math.max(worst.kl, d.kl) };
        rows.push(`L${rc.layer} pos ${rc.position}  ${f(pc.bypass_score, rc.bypass, 3)} ${f(pc.induce_score, rc.induce, 3)} ${f(pc.kl, rc.kl, 5)}  ${reason ?? '-'} / ${rc.filtered ?? '-'}`);
        assert.ok(d.bypass <= SCORE_TOL, `bypass at layer ${rc.layer} pos ${rc.position}: ${pc.bypass_score} vs ${rc.bypass}`);
        assert.ok(d.induce <= SCORE_TOL, `induce at layer ${rc.layer} pos ${rc.position}: ${pc.induce_score} vs ${rc.induce}`);
        assert.ok(d.kl <= KL_TOL, `KL at layer ${rc.layer} pos ${rc.position}: ${pc.kl} vs ${rc.kl}`);
        assert.ok(Math.abs(pc.norm - rc.norm) <= 1e-5 * Math.max(1, rc.norm), `norm at layer ${rc.layer} pos ${rc.position}: ${pc.norm} vs ${rc.norm}`);
        assert.equal(reason, rc.filtered, `filter at layer ${rc.layer} pos ${rc.position}`);
      }
      const sel = (x: { layer: number | null; position: number | null } | null) => (x && x.layer !== null ? `layer ${x.layer}, position ${x.position}` : 'none (all filtered)');
      rows.push(`max |Δ| bypass/induce ${worst.score.toExponential(1)} (tolerance ${SCORE_TOL}), max |Δ| KL ${worst.kl.toExponential(1)} (tolerance ${KL_TOL})`);
      rows.push(`selected: project ${sel(proj)}, reference ${sel(ref.selected)}`);
      console.log(`\nlearned organism "${variant}", extract: project vs PyTorch reference\n${rows.join('\n')}`);
      if (ref.selected === null) {
        assert.equal(proj.layer, null);
        assert.equal(extractCode, 1);
        assert.match(proj.report!, new RegExp(`^All ${ref.candidates.length} candidates were filtered out`));
      } else {
        // A different pick is acceptable only when its bypass score ties the reference's within the tolerance.
        const pick = ref.candidates.find((c) => c.layer === proj.layer && c.position === proj.position);
        assert.ok(pick && !pick.filtered, `the project selected ${sel(proj)}, which the reference filters`);
        assert.ok(pick === ref.selected || Math.abs(pick.bypass - ref.selected.bypass) <= SCORE_TOL, `selection differs: ${sel(proj)} vs ${sel(ref.selected)}`);
        assert.equal(extractCode, 0);
      }
      assert.equal(ref.selected !== null, passes, `the finding changed: a candidate ${passes ? 'no longer passes' : 'now passes'} the filters; update VARIANTS and the README's Validation section`);
    });

    /** No direction file when everything is filtered: the engine's own lowest-bypass candidate, as the reference does. */
    const lowestBypass = async () => {
      engine = await Engine.load({ model: aligned, dtype: 'fp32', cacheDir: cache, allowRemote: false });
      const harmful = splitTrainVal(await loadPromptSet(prompts('harmful_train')));
      const harmless = splitTrainVal(await loadPromptSet(prompts('harmless_train')));
      // Exhaustive: the reference's lowest bypass score is over every candidate, pruned layers included.
      const x = await extractRefusalDirection(engine, { harmful, harmless, exhaustive: true });
      const best = x.candidates.filter((c) => Number.isFinite(c.bypass)).reduce((a, b) => (b.bypass < a.bypass ? b : a));
      assert.deepEqual([best.layer, best.position], [ref.evaluated.layer, ref.evaluated.position]);
      return { engine, direction: { vector: Array.from(x.meanDiffs[best.position + x.positions.length][best.layer]), layer: best.layer } };
    };

    test('ablate: greedy fp32 completions under baseline, ablation and addition identical to the reference', async () => {
      let fallback: Awaited<ReturnType<typeof lowestBypass>> | undefined;
      const rows = ['prompts        condition      refusal proj / ref   identical completions'];
      const rates: Record<string, Partial<Record<Condition, number>>> = {};
      for (const [name, coefficient] of Object.entries(EVAL)) {
        let out: ProjEvaluation;
        if (proj.layer !== null) {
          const r = cli('ablate', '--model', aligned, '--directions', dirs, '--prompts', prompts(name), `--coefficient=${coefficient}`, '--max-new-tokens', String(MAX_NEW_TOKENS), '--json');
          assert.equal(r.code, 0, r.stderr);
          out = JSON.parse(r.stdout);
        } else {
          fallback ??= await lowestBypass();
          out = await evaluateDirection(fallback.engine, (await loadPromptSet(prompts(name))).prompts, { direction: fallback.direction, coefficient, maxNewTokens: MAX_NEW_TOKENS });
        }
        rates[name] = out.refusal_rate;
        for (const c of CONDITIONS) {
          const refRows = ref.completions[name][c];
          const same = out.results.filter((p, i) => JSON.stringify(p.completions[c]!.ids) === JSON.stringify(refRows[i].ids)).length;
          const refRate = rate(refRows.map((x) => isRefusal(x.text)));
          rows.push(`${name.padEnd(14)} ${`${c}${c === 'addition' ? ` (${coefficient > 0 ? '+' : ''}${coefficient})` : ''}`.padEnd(14)} ${pct(out.refusal_rate[c])} / ${pct(refRate)}          ${same}/${refRows.length}`);
          out.results.forEach((p, i) => {
            assert.deepEqual(p.completions[c]!.ids, refRows[i].ids, `${name} ${c} "${p.prompt}": ${JSON.stringify(p.completions[c]!.text)} vs ${JSON.stringify(refRows[i].text)}`);
            assert.equal(p.completions[c]!.text, refRows[i].text);
          });
          assert.equal(out.refusal_rate[c], refRate);
        }
      }
      const which = proj.layer !== null ? 'the selected direction' : `the lowest-bypass candidate (layer ${ref.evaluated.layer}, position ${ref.evaluated.position}), filtered`;
      console.log(`\nlearned organism "${variant}", ablate with ${which}: project vs PyTorch reference\n${rows.join('\n')}`);
      // The finding (measured in both implementations, which agree above): with one direction
      // ablated, held-out harmful prompts are refused far less, or about as often as without.
      const { baseline, ablation } = rates.harmful_test as Record<Condition, number>;
      const finding = `held-out harmful refusal ${pct(baseline)} -> ${pct(ablation)} under ablation`;
      if (mediated) assert.ok(ablation <= baseline / 2, `the finding changed: ${finding}; update VARIANTS and the README's Validation section`);
      else assert.ok(ablation >= baseline - 0.1, `the finding changed: ${finding}; update VARIANTS and the README's Validation section`);
    });
  });
}
