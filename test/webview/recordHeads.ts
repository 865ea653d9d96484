// Regenerates the recorded Heads view the webview tests render:
//   node --import tsx test/webview/recordHeads.ts
// Organism v2 (its planted suffix token and refusal direction): a suffixed harmful prompt scored,
// compared with the prompt without the suffix, and the plain prompt's Heads view; built by the
// extension's own converters from real engine results.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { scorePrompt } from '../../src/engine/directions/score';
import { Engine } from '../../src/engine/engine';
import { headsAnalysis } from '../../src/engine/heads/heads';
import { headsView, scoreView } from '../../src/host/views';
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
    const data = {
      groundTruth: gt.suffix,
      comparison: { ...scoreView(suffixed, score, label, 'organism v2'), heads: headsView(prompt, compared) },
      plain: { ...scoreView(prompt, await scorePrompt(engine, prompt, direction), label, 'organism v2'), heads: headsView(prompt, plain) },
    };
    writeFileSync(path.join(__dirname, 'fixtures', 'heads.json'), `${JSON.stringify(data, (_, v) => (typeof v === 'number' ? Number(v.toPrecision(6)) : v), 1)}\n`);
  } finally {
    await engine.dispose();
  }
}

void main();
