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

const FS_ERRORS: Record<string, string> = {
  ENOENT: 'no such file',
  ENOTDIR: 'a folder on its path is a file',
  EISDIR: 'it is a folder, not a file',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the name is too long',
  EMFILE: 'too many open files',
};

/** A file-system error in words ("no such file"), not node's errno code. */
export function describeFsError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  return (code && FS_ERRORS[code]) ?? (e as Error).message;
}
