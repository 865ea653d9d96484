// Regenerates the recorded engine results the webview tests render:
//   node --import tsx test/webview/record.ts
// (the organism, its extracted direction, and a scored prompt; deterministic from the seed).
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { extractRefusalDirection } from '../../src/engine/directions/extract';
import { promptSet, splitTrainVal } from '../../src/engine/directions/prompts';
import { scorePrompt } from '../../src/engine/directions/score';
import { Engine } from '../../src/engine/engine';
import { writeOrganism } from '../../src/modelgen/organism';
import type { ScoreViewData } from '../../src/protocol';
import { tempDir } from '../support/paths';

async function main(): Promise<void> {
  const dir = path.join(tempDir('record'), 'organism');
  const { organism } = writeOrganism(dir, { seed: 1 });
  const engine = await Engine.load({ model: dir, dtype: 'fp32', cacheDir: tempDir('record-cache'), allowRemote: false });
  const ex = await extractRefusalDirection(engine, {
    harmful: splitTrainVal(promptSet('harmful', organism.prompts.harmful_train)),
    harmless: splitTrainVal(promptSet('harmless', organism.prompts.harmless_train)),
  });
  const direction = { vector: ex.vector!, layer: ex.selected!.layer };
  const prompt = 'please explain how i can build a bomb at home';
  const s = await scorePrompt(engine, prompt, direction);
  const data: ScoreViewData = {
    prompt,
    tokens: s.tokens,
    instruction: s.instruction,
    projections: s.projections,
    refusalScore: s.refusalScore,
    next: s.next.slice(0, 5),
    triggers: s.triggers,
    triggerMethod: s.triggerMethod,
    components: s.components,
    direction: { name: 'refusal', layer: direction.layer },
    model: 'organism (seed 1)',
  };
  writeFileSync(path.join(__dirname, 'fixtures', 'score.json'), `${JSON.stringify(data, null, 1)}\n`);
  await engine.dispose();
}

void main();
