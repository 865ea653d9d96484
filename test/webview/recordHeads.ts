// Regenerates the recorded Heads view and direction geometry the webview tests render:
//   node --import tsx test/webview/recordHeads.ts
// Organism v2 (its planted suffix token and refusal direction): a suffixed harmful prompt scored,
// compared with the prompt without the suffix, and the plain prompt's Heads view; an extraction's
// candidate cosines, the extracted direction against the planted one, and its logit lens. Built by
// the extension's own converters from real engine results.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { extractRefusalDirection } from '../../src/engine/directions/extract';
import { compareDirections } from '../../src/engine/directions/geometry';
import { logitLens } from '../../src/engine/directions/lens';
import { promptSet, splitTrainVal } from '../../src/engine/directions/prompts';
import { scorePrompt } from '../../src/engine/directions/score';
import { Engine } from '../../src/engine/engine';
import { headsAnalysis } from '../../src/engine/heads/heads';
import { candidateCosines, extractionView, headsView, scoreView } from '../../src/host/views';
import { buildOrganismV2, SUFFIX_TOKEN } from '../../src/modelgen/organism2';
import { makeWordTokenizer } from '../../src/modelgen/tokenizer';
import { writeModel } from '../../src/modelgen/write';
import { tempDir } from '../support/paths';

async function main(): Promise<void> {
  const o = buildOrganismV2({ seed: 1 });
  const gt = o.groundTruth('aligned');
  const dir = path.join(tempDir('record-heads'), 'organism2');
  writeModel(dir, { config: o.config, weights: o.aligned, tokenizer: makeWordTokenizer(o.vocab), style: 'torch', dtype: 'fp32', eosId: o.vocab.indexOf('<|im_end|>'), padId: o.vocab.indexOf('<|endoftext|>') });
  const engine = await Engine.load({ model: dir, dtype: 'fp32', cacheDir: tempDir('record-heads-cache'), allowRemote: false });
  try {
    const direction = { vector: gt.directions.refusal, layer: gt.writtenAt.refusal + 1 };
    const prompt = o.prompts.suffix_test[0].slice(0, -SUFFIX_TOKEN.length).trimEnd();
    const suffixed = `${prompt} ${SUFFIX_TOKEN}`;
    const score = await scorePrompt(engine, suffixed, direction);
    const compared = await headsAnalysis(engine, prompt, direction, { suffix: SUFFIX_TOKEN, baseline: '' });
    const plain = await headsAnalysis(engine, prompt, direction);
    const label = { name: 'refusal (planted)', layer: direction.layer };
    const ex = await extractRefusalDirection(engine, { harmful: splitTrainVal(promptSet('harmful', o.prompts.harmful_train)), harmless: splitTrainVal(promptSet('harmless', o.prompts.harmless_train)) });
    // Paper A's selection may filter every candidate here (organism v2's induce scores are negative
    // at seed 1): the candidate at the planted direction's layer, last position, stands in.
    const chosen = { layer: direction.layer, position: -1 };
    const vector = Array.from(ex.meanDiffs[ex.positions.indexOf(chosen.position)][chosen.layer]);
    const model = { id: 'organism v2', layers: o.config.layers, hidden: o.config.hidden };
    const doc = (name: string, layer: number, vector: number[]) => ({ model, selected: 0, directions: [{ name, layer, position: -1, method: 'recorded', vector }] });
    const c = compareDirections(doc('refusal', chosen.layer, vector), doc('planted r', direction.layer, gt.directions.refusal), 'refusal-direction.json', 'planted.json');
    const lens = await logitLens(engine, vector, 8);
    const strip = (ts: { token: string; value: number }[]) => ts.map(({ token, value }) => ({ token, value }));
    const data = {
      groundTruth: gt.suffix,
      explorer: {
        model: 'organism v2',
        promptSets: { harmful: 'prompts/harmful_train.txt', harmless: 'prompts/harmless_train.txt' },
        active: { name: 'refusal', layer: chosen.layer, position: chosen.position, method: 'difference in means (Arditi et al. 2024)' },
        extraction: extractionView(ex),
        geometry: {
          candidates: candidateCosines(ex),
          comparison: { file: '/work/planted.json', model: c.b.model, selected: c.selected, other: { name: c.b.name, layer: c.b.layer }, layers: c.layers.map(({ layer, cosine }) => ({ layer, cosine })) },
          lens: { direction: `refusal (layer ${chosen.layer})`, top: strip(lens.top), bottom: strip(lens.bottom), method: lens.method },
        },
      },
      comparison: { ...scoreView(suffixed, score, label, 'organism v2'), heads: headsView(prompt, compared) },
      plain: { ...scoreView(prompt, await scorePrompt(engine, prompt, direction), label, 'organism v2'), heads: headsView(prompt, plain) },
    };
    writeFileSync(path.join(__dirname, 'fixtures', 'heads.json'), `${JSON.stringify(data, (_, v) => (typeof v === 'number' ? Number(v.toPrecision(6)) : v), 1)}\n`);
  } finally {
    await engine.dispose();
  }
}

void main();
