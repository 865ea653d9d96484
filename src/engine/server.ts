// The engine side of the protocol: validates every incoming message, runs requests concurrently
// with one AbortController each (a `cancel` note aborts it), and turns every failure into a coded
// error response. Inference blocks this process's thread, never the extension host's.
import {
  CancelNote,
  describeZodError,
  EngineMethod,
  EngineMethods,
  EngineToHost,
  ErrorCode,
  HEARTBEAT_MS,
  HostToEngine,
  LogNote,
  ParsedParamsOf,
  Request,
  ResultOf,
  RpcError,
  StatsResult,
} from '../protocol';
import { counters } from './diagnostics';
import { OUT_OF_MEMORY_ADVICE, outOfMemoryText } from './outOfMemory';

export interface CallContext {
  id: number;
  signal: AbortSignal;
  progress(message: string, fraction?: number): void;
  token(index: number, tokenId: number, text: string): void;
  partial(index: number, value: unknown): void;
  log(level: LogNote['level'], message: string): void;
}

/** Every method but `stats`, which the server answers itself. */
export type Handlers = { [M in Exclude<EngineMethod, 'stats'>]: (params: ParsedParamsOf<M>, ctx: CallContext) => Promise<ResultOf<M>> };

export interface Transport {
  send(message: EngineToHost): void;
  onMessage(listener: (message: unknown) => void): void;
}

/**
 * Node IPC to the parent (forked with serialization 'advanced', so typed arrays cross intact). The
 * parent going away (window closed, host crashed) ends the engine too, so no orphan keeps a model
 * in memory.
 */
export function ipcTransport(): Transport {
  if (!process.send) throw new Error('the engine must be started as a child process with an IPC channel');
  process.on('disconnect', () => process.exit(0));
  return {
    send: (m) => {
      if (process.connected) process.send!(m);
    },
    onMessage: (listener) => process.on('message', listener),
  };
}

/**
 * A crash must be visible to the host: an uncaught exception or unhandled rejection is sent as an
 * error LogNote (with the stack), then the process exits with `exitCode` so the host reports
 * ENGINE_CRASHED and offers a restart. Never keeps running in an unknown state.
 */
export function exitOnFatalErrors(exitCode = 70): void {
  let exiting = false;
  const fatal = (e: unknown) => {
    if (exiting) return;
    exiting = true;
    const message = `engine crashed: ${(e as Error)?.stack ?? String(e)}`;
    const exit = () => process.exit(exitCode);
    setTimeout(exit, 1000).unref();
    if (process.send && process.connected) {
      process.send({ kind: 'log', level: 'error', message } satisfies LogNote, () => exit());
    } else {
      process.stderr.write(`${message}\n`);
      exit();
    }
  };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
}

const CODES = new Set<string>(ErrorCode.options);

/**
 * Any thrown value as a protocol error: an error whose `code` is a protocol ErrorCode keeps it (the
 * engine throws EngineError on purpose); an abort (the request's signal, or an AbortError) is
 * CANCELLED; a failed allocation (onnxruntime's arena, a typed array) is OUT_OF_MEMORY with advice;
 * anything else is INTERNAL with the stack as `detail`.
 */
export function toRpcError(e: unknown, signal?: AbortSignal): RpcError {
  const err = (typeof e === 'object' && e !== null ? e : {}) as { code?: unknown; message?: unknown; detail?: unknown; stack?: unknown; name?: unknown };
  const message = typeof err.message === 'string' ? err.message : String(e);
  if (typeof err.code === 'string' && CODES.has(err.code)) {
    return { code: err.code as ErrorCode, message, ...(typeof err.detail === 'string' ? { detail: err.detail } : {}) };
  }
  if (signal?.aborted || err.name === 'AbortError') return { code: 'CANCELLED', message: 'cancelled' };
  const oom = outOfMemoryText(message);
  if (oom) return { code: 'OUT_OF_MEMORY', message: `the engine ran out of memory (${oom}); ${OUT_OF_MEMORY_ADVICE}`, ...(typeof err.stack === 'string' ? { detail: err.stack } : {}) };
  return { code: 'INTERNAL', message, ...(typeof err.stack === 'string' ? { detail: err.stack } : {}) };
}

const KNOWN = Object.keys(EngineMethods).join(', ');

/** How many cancellations `stats` remembers (the oldest are dropped: memory stays bounded). */
const CANCELLATIONS_KEPT = 32;

export function serve(handlers: Handlers, transport: Transport): void {
  const running = new Map<number, { method: string; controller: AbortController }>();
  const cancellations: StatsResult['cancellations'] = [];
  const log = (level: LogNote['level'], message: string) => transport.send({ kind: 'log', level, message });
  // Signs of life while requests run; they stop when the event loop is blocked or the process stopped.
  let heartbeat: NodeJS.Timeout | undefined;
  const beatWhileRunning = () => {
    if (running.size && !heartbeat) heartbeat = setInterval(() => transport.send({ kind: 'heartbeat', rss: process.memoryUsage.rss() }), HEARTBEAT_MS).unref();
    if (!running.size) {
      clearInterval(heartbeat);
      heartbeat = undefined;
    }
  };

  transport.onMessage((raw) => {
    // Parsed by its own kind first, so a failure names the field rather than "no union member matched".
    const kind = (raw as { kind?: unknown })?.kind;
    const parsed = (kind === 'request' ? Request : kind === 'cancel' ? CancelNote : HostToEngine).safeParse(raw);
    if (!parsed.success) {
      // Answer malformed requests that carry an id, so the host is not left waiting.
      const id = (raw as { kind?: unknown; id?: unknown })?.kind === 'request' ? (raw as { id?: unknown }).id : undefined;
      const why = `malformed message from the host: ${describeZodError(parsed.error)}`;
      if (Number.isInteger(id)) transport.send({ kind: 'response', id: id as number, error: { code: 'BAD_REQUEST', message: why } });
      else log('error', `ignored a ${why}`);
      return;
    }
    const msg = parsed.data as HostToEngine;
    if (msg.kind === 'cancel') {
      const r = running.get(msg.id);
      if (r && !r.controller.signal.aborted) {
        cancellations.push({ id: msg.id, method: r.method, runsAtCancel: counters.sessionRuns });
        cancellations.splice(0, cancellations.length - CANCELLATIONS_KEPT);
        r.controller.abort();
      }
      return;
    }
    void handle(msg.id, msg.method, msg.params);
  });

  async function handle(id: number, method: string, rawParams: unknown): Promise<void> {
    const reply = (body: { result: unknown } | { error: RpcError }) => transport.send({ kind: 'response', id, ...body });
    if (!Object.hasOwn(EngineMethods, method)) {
      reply({ error: { code: 'BAD_REQUEST', message: `unknown method '${method}'; the engine knows ${KNOWN}` } });
      return;
    }
    const m = method as EngineMethod;
    const params = EngineMethods[m].params.safeParse(rawParams ?? {});
    if (!params.success) {
      reply({ error: { code: 'BAD_REQUEST', message: `${method}: ${describeZodError(params.error)}` } });
      return;
    }
    const controller = new AbortController();
    running.set(id, { method, controller });
    beatWhileRunning();
    const ctx: CallContext = {
      id,
      signal: controller.signal,
      progress: (message, fraction) => transport.send({ kind: 'progress', id, message, ...(fraction !== undefined ? { fraction } : {}) }),
      token: (index, tokenId, text) => transport.send({ kind: 'token', id, index, tokenId, text }),
      partial: (index, value) => transport.send({ kind: 'partial', id, index, value }),
      log,
    };
    const answered = (answer: string) => {
      const c = cancellations.find((x) => x.id === id);
      if (c) Object.assign(c, { runsAtAnswer: counters.sessionRuns, answer });
    };
    try {
      const handler = m === 'stats' ? stats : (handlers[m] as (p: unknown, c: CallContext) => Promise<unknown>);
      const result = await handler(params.data, ctx);
      answered('result');
      // A result that cannot cross IPC (a function, a class with native handles) throws here and is
      // reported as INTERNAL below instead of leaving the request unanswered.
      reply({ result });
    } catch (e) {
      const error = toRpcError(e, controller.signal);
      answered(error.code);
      if (error.code === 'INTERNAL') log('error', `${method} failed: ${error.detail ?? error.message}`);
      reply({ error });
    } finally {
      running.delete(id);
      beatWhileRunning();
    }
  }

  async function stats(): Promise<StatsResult> {
    const { rss, heapUsed } = process.memoryUsage();
    return { ...counters, rss, heapUsed, cancellations: cancellations.map((c) => ({ ...c })) };
  }
}
