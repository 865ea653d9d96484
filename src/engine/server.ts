// The engine side of the protocol: validates every incoming message, runs requests concurrently
// with one AbortController each (a `cancel` note aborts it), and turns every failure into a coded
// error response. Inference blocks this process's thread, never the extension host's.
import {
  describeZodError,
  EngineMethod,
  EngineMethods,
  EngineToHost,
  ErrorCode,
  HostToEngine,
  LogNote,
  ParsedParamsOf,
  ResultOf,
  RpcError,
} from '../protocol';

export interface CallContext {
  id: number;
  signal: AbortSignal;
  progress(message: string, fraction?: number): void;
  token(index: number, tokenId: number, text: string): void;
  log(level: LogNote['level'], message: string): void;
}

export type Handlers = { [M in EngineMethod]: (params: ParsedParamsOf<M>, ctx: CallContext) => Promise<ResultOf<M>> };

export interface Transport {
  send(message: EngineToHost): void;
  onMessage(listener: (message: unknown) => void): void;
}

/** Node IPC to the parent (forked with serialization 'advanced', so typed arrays cross intact). */
export function ipcTransport(): Transport {
  if (!process.send) throw new Error('the engine must be started as a child process with an IPC channel');
  return {
    send: (m) => process.send!(m),
    onMessage: (listener) => process.on('message', listener),
  };
}

const CODES = new Set<string>(ErrorCode.options);

export function toRpcError(e: unknown, signal?: AbortSignal): RpcError {
  const err = e as { code?: unknown; message?: unknown; detail?: unknown; stack?: unknown; name?: unknown };
  if (typeof err?.code === 'string' && CODES.has(err.code)) {
    return { code: err.code as ErrorCode, message: String(err.message), ...(typeof err.detail === 'string' ? { detail: err.detail } : {}) };
  }
  if (signal?.aborted || err?.name === 'AbortError') return { code: 'CANCELLED', message: 'cancelled' };
  return { code: 'INTERNAL', message: String(err?.message ?? e), ...(typeof err?.stack === 'string' ? { detail: err.stack } : {}) };
}

export function serve(handlers: Handlers, transport: Transport): void {
  const running = new Map<number, AbortController>();
  const log = (level: LogNote['level'], message: string) => transport.send({ kind: 'log', level, message });

  transport.onMessage((raw) => {
    const parsed = HostToEngine.safeParse(raw);
    if (!parsed.success) {
      log('error', `ignored a malformed message from the host: ${describeZodError(parsed.error)}`);
      return;
    }
    const msg = parsed.data;
    if (msg.kind === 'cancel') {
      running.get(msg.id)?.abort();
      return;
    }
    void handle(msg.id, msg.method, msg.params);
  });

  async function handle(id: number, method: string, rawParams: unknown): Promise<void> {
    const reply = (body: { result: unknown } | { error: RpcError }) => transport.send({ kind: 'response', id, ...body });
    if (!(method in EngineMethods)) {
      reply({ error: { code: 'BAD_REQUEST', message: `unknown method '${method}'; the engine knows ${Object.keys(EngineMethods).join(', ')}` } });
      return;
    }
    const m = method as EngineMethod;
    const params = EngineMethods[m].params.safeParse(rawParams ?? {});
    if (!params.success) {
      reply({ error: { code: 'BAD_REQUEST', message: `${method}: ${describeZodError(params.error)}` } });
      return;
    }
    const controller = new AbortController();
    running.set(id, controller);
    const ctx: CallContext = {
      id,
      signal: controller.signal,
      progress: (message, fraction) => transport.send({ kind: 'progress', id, message, ...(fraction !== undefined ? { fraction } : {}) }),
      token: (index, tokenId, text) => transport.send({ kind: 'token', id, index, tokenId, text }),
      log,
    };
    try {
      const handler = handlers[m] as (p: unknown, c: CallContext) => Promise<unknown>;
      reply({ result: await handler(params.data, ctx) });
    } catch (e) {
      const error = toRpcError(e, controller.signal);
      if (error.code === 'INTERNAL') log('error', `${method} failed: ${error.detail ?? error.message}`);
      reply({ error });
    } finally {
      running.delete(id);
    }
  }
}
