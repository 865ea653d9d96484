// A direction's logit lens: the tokens the unembedding ranks highest and lowest along it.
import { EngineError } from '../model/errors';
import { forward } from '../runtime/forward';
import type { SteeringTensors } from '../runtime/steering';
import type { LoadedModel } from './extract';
import { norm } from './linalg';

export interface LensToken {
  id: number;
  token: string;
  /** W_U (γ ⊙ r̂): the logit one unit of r̂ in the final residual adds, through the final norm's weight γ. */
  value: number;
}

export interface LogitLens {
  top: LensToken[];
  bottom: LensToken[];
  method: string;
}

/**
 * The unembedding applied to r̂ through the final norm's weight, run by the model's own graph (any
 * dtype or export style, lm_head quantized or tied): a complete ablation basis replaces every
 * writer's output with its steering addition, so the final residual is exactly √H·r̂, whose RMS is 1
 * and which the final norm turns into γ ⊙ r̂·√H/√(1 + ε); logits divided by √H are W_U (γ ⊙ r̂) up to
 * that ε (1e-6 typically). A final logit soft-cap (Gemma 2) bends the values but keeps their order.
 */
export async function logitLens(model: LoadedModel, vector: number[], k = 10): Promise<LogitLens> {
  const H = model.info.hiddenSize;
  if (vector.length !== H) throw new EngineError('BAD_REQUEST', `the direction has ${vector.length} values, the model's hidden size is ${H}`);
  const n = norm(vector);
  if (!(n > 0) || !Number.isFinite(n)) throw new EngineError('BAD_REQUEST', 'the direction has zero or non-finite norm');
  const basis = new Float32Array(H * H);
  for (let h = 0; h < H; h++) basis[h * H + h] = 1;
  const add = new Float32Array((2 * model.info.layers + 1) * H);
  const scale = Math.sqrt(H) / n;
  vector.forEach((x, h) => (add[h] = x * scale));
  const steering: SteeringTensors = { basis, rank: H, add, positions: 'all', off: false };
  const [out] = await forward(model.decoder, [[model.tokenizer.padId]], { hooks: [], logits: 'last', steering });
  const logits = out.logits!;
  const order = Array.from(logits.keys()).sort((x, y) => logits[y] - logits[x]);
  const pick = (ids: number[]) => {
    const strings = model.tokenizer.tokenStrings(ids);
    return ids.map((id, i) => ({ id, token: strings[i], value: logits[id] / Math.sqrt(H) }));
  };
  return { top: pick(order.slice(0, k)), bottom: pick(order.slice(-k).reverse()), method: 'unembedding of γ ⊙ r̂ through the model graph (final norm weight γ)' };
}
