// The extension host's side of the engine: forks the engine process, speaks the typed protocol to
// it, and notices when it dies. No vscode import, so it is tested in plain Node. Nothing here blocks:
// every call returns a promise, and the model work happens in the child process.
import { ChildProcess, fork } from 'node:child_process';
import { EventEmitter } from 'node:events';
import os from 'node:os';
import type { Readable } from 'node:stream';
import { isFatalOutOfMemory, OUT_OF_MEMORY_ADVICE, outOfMemoryText } from '../engine/outOfMemory';
import {
  describeZodError,
  EngineMethod,
  EngineToHost,
  ErrorCode,
  LogNote,
  ParamsOf,
  ProgressNote,
  ResultOf,
  PartialNote,
  TokenNote,
} from '../protocol';

export type EngineState = 'stopped' | 'starting' | 'ready' | 'busy' | 'crashed';

export class EngineRequestError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly detail?: string,
    /** The engine process is gone (crashed, hung and killed): the state change to 'crashed' tells the user. */
    readonly engineStopped = false,
  ) {
    super(message);
    this.name = 'EngineRequestError';
  }
}

export interface RequestOptions {
  /** Aborting sends a `cancel` note; the engine then answers CANCELLED (or a partial result, for generate). */
  signal?: AbortSignal;
  onProgress?: (note: ProgressNote) => void;
  onToken?: (note: TokenNote) => void;
  onPartial?: (note: PartialNote) => void;
}

interface Pending {
  method: EngineMethod;
  started: number;
  resolve(result: unknown): void;
  reject(error: Error): void;
  options: RequestOptions;
}

export interface EngineClientOptions {
  /** The engine entry (dist/engine.js, or a .ts file run through tsx in tests). */
  enginePath: string;
  /** Node flags for the child; defaults to none (never the extension host's own inspector flags). */
  execArgv?: string[];
  /** Added to the host's environment; a function is asked again at every (re)start. */
  env?: NodeJS.ProcessEnv | (() => NodeJS.ProcessEnv);
  log?: (level: LogNote['level'], message: string) => void;
  /** How long a polite shutdown may take before SIGKILL (ms). */
  shutdownTimeout?: number;
  /**
   * How long (ms) pending requests may go without any sign of life from the engine (a message, or
   * the heartbeat it sends every HEARTBEAT_MS while its event loop is free) before the engine counts
   * as hung: it is killed and the requests fail with ENGINE_HUNG. A forward pass blocks the
   * heartbeat, so this must exceed the longest single forward pass. 0 turns the watchdog off; a
   * function is asked again at every check (a setting may change). Default DEFAULT_HANG_TIMEOUT_MS.
   */
  hangTimeout?: number | (() => number);
}

/** Five minutes: far longer than one forward pass of a model that fits a workstation's memory. */
export const DEFAULT_HANG_TIMEOUT_MS = 300_000;

/** Why the last engine process ended without being asked to. */
export interface EngineFailure {
  code: Extract<ErrorCode, 'ENGINE_CRASHED' | 'ENGINE_HUNG' | 'OUT_OF_MEMORY'>;
  /** A sentence for the user, e.g. "the engine ran out of memory during 'extract' (…); try …". */
  message: string;
}

const TAIL_LINES = 20;
const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;

export class EngineClient {
  private child?: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly events = new EventEmitter();
  /** The last lines the engine wrote to stderr or logged as errors: the story of a crash. */
  private tail: string[] = [];
  private lastLoad?: ParamsOf<'load'>;
  /** The process that answered the last successful `load` (a new process after a crash has no model). */
  private loadedBy?: ChildProcess;
  private _state: EngineState = 'stopped';
  private disposed = false;
  /** Set while stop() ends the child on purpose, so its exit is not a crash. */
  private stopping?: ChildProcess;
  /** When the engine last showed a sign of life (any message), and the memory its last heartbeat reported. */
  private lastSign = 0;
  private lastRss?: number;
  /** The child's dying words about memory (V8's fatal heap error, std::bad_alloc), if it said any. */
  private oomEvidence?: string;
  /** Set when the watchdog kills a child that stopped showing signs of life. */
  private hung?: { child: ChildProcess; silentMs: number; timeoutMs: number };
  private watchdog?: NodeJS.Timeout;
  private _lastFailure?: EngineFailure;

  constructor(private readonly options: EngineClientOptions) {}

  get state(): EngineState {
    return this._state;
  }

  /** The engine process id while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Why the last engine process ended unasked (undefined until one does). */
  get lastFailure(): EngineFailure | undefined {
    return this._lastFailure;
  }

  /** Whether the running engine process has a model: false after a crash or stop until the next load. */
  get hasModel(): boolean {
    return this.child !== undefined && this.loadedBy === this.child;
  }

  /** Called with the new state on every change. Returns a function that unsubscribes. */
  onState(listener: (state: EngineState) => void): () => void {
    this.events.on('state', listener);
    return () => this.events.off('state', listener);
  }

  private setState(state: EngineState): void {
    if (state === this._state) return;
    this._state = state;
    this.events.emit('state', state);
  }

  private log(level: LogNote['level'], message: string): void {
    this.options.log?.(level, message);
  }

  private remember(line: string): void {
    this.tail.push(line);
    if (this.tail.length > TAIL_LINES) this.tail.splice(0, this.tail.length - TAIL_LINES);
  }

  /** Starts the engine process if it is not running. Requests start it on demand too. */
  start(): void {
    if (this.disposed) throw new EngineRequestError('CANCELLED', 'the engine client was disposed');
    if (this.child) return;
    this.setState('starting');
    this.tail = [];
    this.oomEvidence = undefined;
    this.lastRss = undefined;
    this.lastSign = Date.now();
    const child = fork(this.options.enginePath, [], {
      serialization: 'advanced',
      execArgv: this.options.execArgv ?? [],
      // Inside VS Code, process.execPath is the Electron binary: this makes it a plain Node process.
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1', ...(typeof this.options.env === 'function' ? this.options.env() : this.options.env) },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    this.child = child;
    this.readLines(child.stdout, (line) => this.log('info', line));
    this.readLines(child.stderr, (line) => {
      this.remember(line);
      if (!this.oomEvidence && isFatalOutOfMemory(line)) this.oomEvidence = line.trim();
      this.log('warn', line);
    });
    child.on('spawn', () => {
      if (this.child === child && this._state === 'starting') this.setState(this.pending.size ? 'busy' : 'ready');
    });
    child.on('message', (raw) => this.onMessage(child, raw));
    child.on('error', (e) => {
      this.log('error', `engine process: ${e.message}`);
      // A process that never started emits no 'close'.
      if (child.pid === undefined) this.onClose(child, null, null, e.message);
    });
    // 'close' comes after the child's stdio is drained, so the tail holds its last words.
    child.on('close', (code, signal) => this.onClose(child, code, signal));
  }

  private readLines(stream: Readable | null, each: (line: string) => void): void {
    if (!stream) return;
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const lines = (rest + chunk).split(/\r?\n/);
      rest = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) each(line);
    });
    stream.on('end', () => {
      if (rest.trim()) each(rest);
      rest = '';
    });
  }

  private onClose(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null, spawnError?: string): void {
    if (this.child !== child) return;
    this.child = undefined;
    this.stopWatchdog();
    const intended = this.stopping === child;
    if (intended) this.stopping = undefined;
    const hung = this.hung?.child === child ? this.hung : undefined;
    this.hung = undefined;
    const detail = this.tail.length ? this.tail.join('\n') : undefined;
    const failure = intended ? undefined : this.whyItEnded(code, signal, spawnError, hung);
    const oldest = this.pending.values().next().value;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(failure ? new EngineRequestError(failure.code, failure.explain(p), detail, true) : new EngineRequestError('CANCELLED', `the engine was stopped during '${p.method}'`));
    }
    if (!failure) {
      this.setState('stopped');
      return;
    }
    this._lastFailure = { code: failure.code, message: failure.explain(oldest) };
    this.log('error', `${this._lastFailure.message}${detail ? `; its last output:\n${detail}` : ''}`);
    this.setState('crashed');
  }

  /** What ended a child nobody asked to stop, told about one of its requests (or none, when it was idle). */
  private whyItEnded(
    code: number | null,
    signal: NodeJS.Signals | null,
    spawnError: string | undefined,
    hung: { silentMs: number; timeoutMs: number } | undefined,
  ): { code: EngineFailure['code']; explain(p?: Pending): string } {
    const during = (p?: Pending) => (p ? ` during '${p.method}'` : '');
    if (hung) {
      return {
        code: 'ENGINE_HUNG',
        explain: (p) =>
          `the engine showed no sign of life for ${seconds(hung.silentMs)}${p ? ` while running '${p.method}' (started ${seconds(Date.now() - p.started)} ago)` : ''}, ` +
          `longer than the ${seconds(hung.timeoutMs)} allowed, so it was stopped`,
      };
    }
    const evidence = this.oomEvidence;
    if (evidence) return { code: 'OUT_OF_MEMORY', explain: (p) => `the engine ran out of memory${during(p)} and stopped (${evidence}); ${OUT_OF_MEMORY_ADVICE}` };
    const last = this.tail.at(-1);
    const lastOutput = last ? ` (last output: ${last})` : '';
    if (signal === 'SIGKILL') {
      // Not ours (the watchdog and stop() are): another process, or the kernel's out-of-memory killer.
      const gb = (b: number) => `${(b / 2 ** 30).toFixed(1)} GB`;
      const used = this.lastRss !== undefined ? `; it last reported ${gb(this.lastRss)} in use, of ${gb(os.totalmem())} on this machine` : '';
      return {
        code: 'ENGINE_CRASHED',
        explain: (p) =>
          `the engine was killed (SIGKILL)${during(p)} by another process or the system${lastOutput}. If memory was short, that was most likely ` +
          `the out-of-memory killer${used}: ${OUT_OF_MEMORY_ADVICE}`,
      };
    }
    const how = spawnError ? `could not start (${spawnError})` : signal ? `was killed (${signal})` : `exited with code ${code}`;
    return { code: 'ENGINE_CRASHED', explain: (p) => `the engine ${how}${during(p)}${lastOutput}` };
  }

  private hangTimeout(): number {
    const t = this.options.hangTimeout ?? DEFAULT_HANG_TIMEOUT_MS;
    return typeof t === 'function' ? t() : t;
  }

  /** While requests are pending, checks a few times per timeout that the engine still shows signs of life. */
  private startWatchdog(): void {
    const timeout = this.hangTimeout();
    if (this.watchdog || !(timeout > 0)) return;
    this.watchdog = setInterval(() => this.checkAlive(), Math.min(1000, timeout / 4)).unref();
  }

  private stopWatchdog(): void {
    clearInterval(this.watchdog);
    this.watchdog = undefined;
  }

  private checkAlive(): void {
    const child = this.child;
    const timeout = this.hangTimeout();
    if (!child || this.pending.size === 0 || !(timeout > 0)) return this.stopWatchdog();
    const silentMs = Date.now() - this.lastSign;
    if (silentMs <= timeout || this.hung?.child === child || this.stopping === child) return;
    this.hung = { child, silentMs, timeoutMs: timeout };
    this.log('error', `the engine (pid ${child.pid}) showed no sign of life for ${seconds(silentMs)}; killing it`);
    child.kill('SIGKILL');
  }

  private onMessage(child: ChildProcess, raw: unknown): void {
    if (this.child !== child) return;
    const parsed = EngineToHost.safeParse(raw);
    if (!parsed.success) {
      this.log('error', `ignored a malformed message from the engine: ${describeZodError(parsed.error)}`);
      return;
    }
    const msg = parsed.data;
    this.lastSign = Date.now();
    if (msg.kind === 'heartbeat') {
      this.lastRss = msg.rss;
      return;
    }
    if (msg.kind === 'log') {
      if (msg.level === 'error') for (const line of msg.message.split('\n').slice(0, 3)) this.remember(line);
      // exitOnFatalErrors reports an uncaught allocation failure (a typed array's buffer) before it exits.
      if (msg.level === 'error' && msg.message.startsWith('engine crashed:')) this.oomEvidence ??= outOfMemoryText(msg.message);
      this.log(msg.level, msg.message);
      return;
    }
    const p = this.pending.get(msg.id);
    if (!p) return;
    if (msg.kind === 'progress') p.options.onProgress?.(msg);
    else if (msg.kind === 'token') p.options.onToken?.(msg);
    else if (msg.kind === 'partial') p.options.onPartial?.(msg);
    else {
      this.pending.delete(msg.id);
      if (this.pending.size === 0 && this._state === 'busy') this.setState('ready');
      if ('error' in msg) p.reject(new EngineRequestError(msg.error.code, msg.error.message, msg.error.detail));
      else p.resolve(msg.result);
    }
  }

  /**
   * Calls an engine method. Params are validated by the engine (BAD_REQUEST names the field); the
   * promise rejects with an EngineRequestError whose `code` says what happened.
   */
  request<M extends EngineMethod>(method: M, params: ParamsOf<M>, options: RequestOptions = {}): Promise<ResultOf<M>> {
    if (this.disposed) return Promise.reject(new EngineRequestError('CANCELLED', 'the engine client was disposed'));
    if (options.signal?.aborted) return Promise.reject(new EngineRequestError('CANCELLED', 'cancelled'));
    if (!this.child) this.start();
    const child = this.child!;
    const id = this.nextId++;
    return new Promise<ResultOf<M>>((resolve, reject) => {
      const onAbort = () => {
        if (this.child === child && child.connected) child.send({ kind: 'cancel', id });
      };
      const settle = () => options.signal?.removeEventListener('abort', onAbort);
      // An idle engine owes no signs of life: the watchdog's clock starts with the first pending request.
      if (this.pending.size === 0) this.lastSign = Date.now();
      this.pending.set(id, {
        method,
        started: Date.now(),
        resolve: (r) => {
          settle();
          if (method === 'load') {
            this.lastLoad = params as ParamsOf<'load'>;
            this.loadedBy = child;
          }
          resolve(r as ResultOf<M>);
        },
        reject: (e) => {
          settle();
          reject(e);
        },
        options,
      });
      if (this._state !== 'starting') this.setState('busy');
      this.startWatchdog();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        child.send({ kind: 'request', id, method, params });
      } catch (e) {
        // Params that cannot be serialized (functions, native handles) never reach the engine.
        this.pending.get(id)?.reject(new EngineRequestError('BAD_REQUEST', `${method}: ${(e as Error).message}`));
        this.pending.delete(id);
        if (this.pending.size === 0 && this._state === 'busy') this.setState('ready');
      }
    });
  }

  /** Kills the engine and starts a new one; the last successfully loaded model is loaded again. */
  async restart(options: RequestOptions = {}): Promise<ResultOf<'load'> | undefined> {
    await this.stop();
    this.start();
    return this.lastLoad ? this.request('load', this.lastLoad, options) : undefined;
  }

  /**
   * Stops the engine: a polite `shutdown`, then SIGKILL if it has not gone within the timeout.
   * Requests still pending are rejected with CANCELLED.
   */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) {
      this.setState('stopped');
      return;
    }
    this.stopping = child;
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    if (child.connected) child.send({ kind: 'request', id: this.nextId++, method: 'shutdown', params: {} }, (e) => e && child.kill('SIGKILL'));
    else child.kill('SIGKILL');
    const timer = setTimeout(() => child.kill('SIGKILL'), this.options.shutdownTimeout ?? 1000);
    await closed;
    clearTimeout(timer);
  }

  /** Stops the engine for good; later requests are rejected. */
  async dispose(): Promise<void> {
    this.disposed = true;
    await this.stop();
    this.events.removeAllListeners();
  }
}
