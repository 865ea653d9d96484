// Errors the engine raises on purpose. The code travels over the protocol unchanged so the host can
// react (offer "pick another model" for MODEL_INVALID, "retry" for OFFLINE, ...); the message names
// what was expected and what was found.
import type { ErrorCode } from '../../protocol';

export class EngineError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly detail?: string,
  ) {
    super(message);
    this.name = 'EngineError';
  }
}
