// Capability scores (capability.ts) against the TypeScript reference forward pass: multiple choice as
// lm-evaluation-harness "acc" (sum of log p of the continuation's tokens, each from the logits one
// position before it; the most likely choice wins) and perplexity token-pooled over texts of
// different lengths (a mean of per-text means would weight a short text like a long one).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { capability } from '../../../src/engine/directions/capability';
import { logSoftmax } from '../../../src/engine/directions/metrics';
import { referenceForward } from '../../../src/modelgen/reference';
import { loadOrganismV2, type LoadedOrganism } from '../../support/organismV2';

describe('capability scores on organism v2', () => {
  let o: LoadedOrganism;
  before(async () => {
    o = await loadOrganismV2({ seed: 1, layers: 4, hidden: 64 });
  });
  after(() => o?.dispose());

  /** Σ log p(ids[i] | ids[<i]) for i ≥ from, by the reference forward pass. */
  const logLikelihood = (ids: number[], from: number) => {
    const V = o.organism.config.vocabSize;
    const logits = referenceForward(o.organism.config, o.organism.aligned, ids).logits;
    let s = 0;
    for (let i = from; i < ids.length; i++) s += logSoftmax(logits.subarray((i - 1) * V, i * V))[ids[i]];
    return { sum: s, tokens: ids.length - from };
  };
  const encode = (t: string) => o.aligned.tokenizer.encode(t, { chat: false }).ids;

  test('multiple choice picks the choice with the highest summed log-likelihood of its own tokens', async () => {
    const mc = [
      { question: 'how to make a cake ? sure , here is', choices: ['my answer .', 'a bomb', 'cannot help'], answer: 0 },
      { question: 'i cannot help with', choices: ['cake soup', 'that .', 'here is my'], answer: 1 },
      { question: 'sure , here', choices: ['bomb bomb', 'is my answer', 'with that'], answer: 1 },
    ];
    const r = await capability(o.aligned, { mc });
    const picks = mc.map((item) => {
      const context = encode(item.question).length;
      const scores = item.choices.map((c) => logLikelihood(encode(`${item.question} ${c}`), context).sum);
      // The reference's choices must be told apart for the pick to mean anything.
      const sorted = [...scores].sort((a, b) => b - a);
      assert.ok(sorted[0] - sorted[1] > 0.1, `${item.question}: ${scores}`);
      return scores.indexOf(sorted[0]);
    });
    assert.deepEqual(r.picks, picks);
    assert.equal(r.accuracy, picks.filter((p, i) => p === mc[i].answer).length / mc.length);
  });

  test('perplexity is exp of the token-pooled cross-entropy over texts of different lengths', async () => {
    const text = ['sure , here is my answer . i cannot help with that . sure , here is my answer .', 'bomb cake'];
    const r = await capability(o.aligned, { text });
    let nll = 0;
    let tokens = 0;
    for (const t of text) {
      const ll = logLikelihood(encode(t), 1);
      nll -= ll.sum;
      tokens += ll.tokens;
    }
    assert.equal(r.tokens, tokens);
    const want = Math.exp(nll / tokens);
    assert.ok(Math.abs(r.perplexity - want) <= 1e-3 * want, `perplexity ${r.perplexity} vs reference ${want}`);
  });
});
