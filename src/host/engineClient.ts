// The extension host's side of the engine: forks the engine process, speaks the typed protocol to
// it, and notices when it dies. No vscode import, so it is tested in plain Node. Nothing here blocks:
// every call returns a promise, and the model work happens in the child process.
import { ChildProcess, fork } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
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
}

const TAIL_LINES = 20;

export class EngineClient {
  private child?: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly events = new EventEmitter();
  /** The last lines the engine wrote to stderr or logged as errors: the story of a crash. */
  private tail: string[] = [];
  private lastLoad?: ParamsOf<'load'>;
  private _state: EngineState = 'stopped';
  private disposed = false;
  /** Set while stop() ends the child on purpose, so its exit is not a crash. */
  private stopping?: ChildProcess;

  constructor(private readonly options: EngineClientOptions) {}

  get state(): EngineState {
    return this._state;
  }

  /** The engine process id while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The parameters of the last successful `load`, replayed by restart(). */
  get loaded(): ParamsOf<'load'> | undefined {
    return this.lastLoad;
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
    const intended = this.stopping === child;
    if (intended) this.stopping = undefined;
    const how = spawnError ? `could not start (${spawnError})` : signal ? `was killed (${signal})` : `exited with code ${code}`;
    const detail = this.tail.length ? this.tail.join('\n') : undefined;
    const last = this.tail.at(-1);
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(
        intended
          ? new EngineRequestError('CANCELLED', `the engine was stopped during '${p.method}'`)
          : new EngineRequestError('ENGINE_CRASHED', `the engine ${how} during '${p.method}'${last ? ` (last output: ${last})` : ''}`, detail),
      );
    }
    if (intended) {
      this.setState('stopped');
    } else {
      this.log('error', `the engine ${how}${detail ? `; its last output:\n${detail}` : ''}`);
      this.setState('crashed');
    }
  }

  private onMessage(child: ChildProcess, raw: unknown): void {
    if (this.child !== child) return;
    const parsed = EngineToHost.safeParse(raw);
    if (!parsed.success) {
      this.log('error', `ignored a malformed message from the engine: ${describeZodError(parsed.error)}`);
      return;
    }
    const msg = parsed.data;
    if (msg.kind === 'log') {
      if (msg.level === 'error') for (const line of msg.message.split('\n').slice(0, 3)) this.remember(line);
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
      this.pending.set(id, {
        method,
        resolve: (r) => {
          settle();
          if (method === 'load') this.lastLoad = params as ParamsOf<'load'>;
          resolve(r as ResultOf<M>);
        },
        reject: (e) => {
          settle();
          reject(e);
        },
        options,
      });
      if (this._state !== 'starting') this.setState('busy');
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
