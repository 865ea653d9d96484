// Execution providers: where onnxruntime runs the graph. CPU always works; cuda (Linux, with CUDA 12
// and cuDNN 9 and onnxruntime-node's CUDA binaries), dml (Windows) and coreml (macOS) only where the
// installed onnxruntime-node has them and their libraries load. A provider that cannot start is not
// an error: the session runs on CPU and the reason is reported (model info, doctor, the CLI).
import * as ort from 'onnxruntime-node';
import type { Provider } from '../../protocol';

/** What a user must install for a provider that onnxruntime-node has but that did not start. */
const NEEDS: Record<Exclude<Provider, 'cpu'>, string> = {
  cuda: "an NVIDIA driver, CUDA 12 and cuDNN 9 on the library path, and onnxruntime-node's CUDA binaries (reinstall it with ONNXRUNTIME_NODE_INSTALL=cuda12)",
  dml: 'Windows 10 1903 or later with a DirectX 12 GPU',
  coreml: 'macOS 10.15 or later',
};

export interface ProviderChoice {
  /** The provider the session runs on. */
  provider: Provider;
  /** Why the requested provider is not the one in use (undefined when it is). */
  fallback?: string;
}

/** Providers the installed onnxruntime-node was built with (whether or not their libraries load). */
export function builtProviders(): string[] {
  return ort.listSupportedBackends().map((b) => b.name);
}

/**
 * Creates a session on `requested`, or on CPU with the reason when that provider is not in this
 * onnxruntime-node build or fails to start. `create` builds the session for a provider list.
 */
export async function withProvider<S>(requested: Provider, create: (providers: string[]) => Promise<S>): Promise<ProviderChoice & { session: S }> {
  if (requested === 'cpu') return { session: await create(['cpu']), provider: 'cpu' };
  const platform = `${process.platform}-${process.arch}`;
  const built = builtProviders();
  if (!built.includes(requested)) {
    const fallback = `the ${requested} execution provider is not in onnxruntime-node for ${platform} (it has ${built.join(', ')}); running on CPU`;
    return { session: await create(['cpu']), provider: 'cpu', fallback };
  }
  try {
    return { session: await create([requested]), provider: requested };
  } catch (e) {
    const why = (e as Error).message.split('\n')[0].slice(0, 300);
    const fallback = `the ${requested} execution provider did not start on ${platform} (${why}); it needs ${NEEDS[requested]}; running on CPU`;
    return { session: await create(['cpu']), provider: 'cpu', fallback };
  }
}
