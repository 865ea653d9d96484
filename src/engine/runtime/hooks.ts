// Hook names (TransformerLens style) <-> exposed residual tensors resid.k of the instrumented graph:
// resid.2l = resid_pre of layer l, resid.2l+1 = resid_mid of layer l, resid.2L = resid_final.
import { residOutput } from '../onnx/instrument';
import { EngineError } from '../model/errors';

export function hookNames(layers: number): string[] {
  const names: string[] = [];
  for (let l = 0; l < layers; l++) names.push(`resid_pre.${l}`, `resid_mid.${l}`);
  names.push('resid_final');
  return names;
}

/** Expands wildcards and maps each hook to its graph output; rejects layers the model lacks. */
export function resolveHooks(hooks: string[], layers: number): { hook: string; output: string }[] {
  const out = new Map<string, string>();
  for (const h of hooks) {
    if (h === 'resid_final') {
      out.set(h, residOutput(2 * layers));
      continue;
    }
    const m = /^resid_(pre|mid)\.(\d+|\*)$/.exec(h);
    if (!m) throw new EngineError('BAD_REQUEST', `unknown hook '${h}'; expected resid_pre.<layer>, resid_mid.<layer> or resid_final`);
    const ls = m[2] === '*' ? [...Array(layers).keys()] : [Number(m[2])];
    for (const l of ls) {
      if (l >= layers) throw new EngineError('BAD_REQUEST', `hook '${h}': the model has layers 0..${layers - 1}`);
      out.set(`resid_${m[1]}.${l}`, residOutput(2 * l + (m[1] === 'mid' ? 1 : 0)));
    }
  }
  return [...out].map(([hook, output]) => ({ hook, output }));
}
