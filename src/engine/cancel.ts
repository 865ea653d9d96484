// Cancellation checks. A request's AbortSignal is aborted when its cancel note arrives, which can
// only happen while the engine's event loop is free: between onnxruntime runs (each runs
// synchronously inside a setImmediate) and during asynchronous I/O, never inside a synchronous step.
import { EngineError } from './model/errors';

export function throwIfCancelled(signal?: AbortSignal): void {
  if (signal?.aborted) throw new EngineError('CANCELLED', 'cancelled');
}

/**
 * Lets waiting I/O (a cancel note in the IPC pipe) be handled, then throws CANCELLED if the signal
 * is aborted. Used after long synchronous steps, where a plain check would miss a cancel that is
 * still in the pipe.
 */
export async function checkpoint(signal?: AbortSignal): Promise<void> {
  if (!signal) return;
  await new Promise<void>((resolve) => setImmediate(resolve));
  throwIfCancelled(signal);
}
