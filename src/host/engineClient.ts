// The extension host's side of the engine: forks the engine process, speaks the typed protocol to
// it, and notices when it dies. No vscode import, so it is tested in plain Node.
import { ChildProcess, fork } from 'node:child_process';
import { EventEmitter } from 'node:events';
import {
  describeZodError,
  EngineMethod,
  EngineToHost,
  ErrorCode,
  LogNote,
  ParamsOf,
  ProgressNote,
  ResultOf,
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
  signal?: AbortSignal;
  onProgress?: (note: ProgressNote) => void;
  onToken?: (note: TokenNote) => void;
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
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
  log?: (level: LogNote['level'], message: string) => void;
}

const STDERR_LINES = 20;

export class EngineClient {
  private child?: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly events = new EventEmitter();
  private stderrTail: string[] = [];
  private lastLoad?: ParamsOf<'load'>;
  private _state: EngineState = 'stopped';

  constructor(private readonly options: EngineClientOptions) {}

  get state(): EngineState {
    return this._state;
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

  start(): void {
    if (this.child) return;
    this.setState('starting');
    this.stderrTail = [];
    const child = fork(this.options.enginePath, [], {
      serialization: 'advanced',
      execArgv: this.options.execArgv ?? [],
      env: { ...process.env, ...this.options.env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    this.child = child;
    const lines = (level: LogNote['level']) => (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        if (level === 'warn') this.stderrTail = [...this.stderrTail, line].slice(-STDERR_LINES);
        this.log(level, line);
      }
    };
    child.stdout?.on('data', lines('info'));
    child.stderr?.on('data', lines('warn'));
    child.on('message', (raw) => this.onMessage(raw));
    child.on('error', (e) => this.log('error', `engine process error: ${e.message}`));
    child.on('exit', (code, signal) => this.onExit(child, code, signal));
    this.setState(this.pending.size ? 'busy' : 'ready');
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    this.child = undefined;
    const expected = this._state === 'stopped';
    const how = signal ? `was killed (${signal})` : `exited with code ${code}`;
    const tail = this.stderrTail.length ? `\n${this.stderrTail.join('\n')}` : '';
    for (const [id, p] of this.pending) {
      p.reject(new EngineRequestError('ENGINE_CRASHED', `the engine ${how} during '${p.method}'`, tail || undefined));
      this.pending.delete(id);
    }
    if (!expected) {
      this.log('error', `the engine ${how}${tail}`);
      this.setState('crashed');
    }
  }

  private onMessage(raw: unknown): void {
    const parsed = EngineToHost.safeParse(raw);
    if (!parsed.success) {
      this.log('error', `ignored a malformed message from the engine: ${describeZodError(parsed.error)}`);
      return;
    }
    const msg = parsed.data;
    if (msg.kind === 'log') {
      this.log(msg.level, msg.message);
      return;
    }
    const p = this.pending.get(msg.id);
    if (!p) return;
    if (msg.kind === 'progress') p.options.onProgress?.(msg);
    else if (msg.kind === 'token') p.options.onToken?.(msg);
    else {
      this.pending.delete(msg.id);
      if (this.pending.size === 0 && this._state === 'busy') this.setState('ready');
      if ('error' in msg) p.reject(new EngineRequestError(msg.error.code, msg.error.message, msg.error.detail));
      else p.resolve(msg.result);
    }
  }

  request<M extends EngineMethod>(method: M, params: ParamsOf<M>, options: RequestOptions = {}): Promise<ResultOf<M>> {
    if (options.signal?.aborted) return Promise.reject(new EngineRequestError('CANCELLED', 'cancelled'));
    if (!this.child) this.start();
    const id = this.nextId++;
    return new Promise<ResultOf<M>>((resolve, reject) => {
      this.pending.set(id, {
        method,
        resolve: (r) => {
          if (method === 'load') this.lastLoad = params as ParamsOf<'load'>;
          resolve(r as ResultOf<M>);
        },
        reject,
        options,
      });
      this.setState('busy');
      options.signal?.addEventListener('abort', () => this.child?.send({ kind: 'cancel', id }), { once: true });
      this.child!.send({ kind: 'request', id, method, params });
    });
  }

  /** Kills the engine and starts a new one; the last successfully loaded model is loaded again. */
  async restart(options: RequestOptions = {}): Promise<ResultOf<'load'> | undefined> {
    await this.stop();
    this.start();
    return this.lastLoad ? this.request('load', this.lastLoad, options) : undefined;
  }

  /** Stops the engine: a polite shutdown, then SIGKILL if it does not go within a second. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) {
      this.setState('stopped');
      return;
    }
    this.setState('stopped');
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    if (child.connected) child.send({ kind: 'request', id: this.nextId++, method: 'shutdown', params: {} });
    const timer = setTimeout(() => child.kill('SIGKILL'), 1000);
    await exited;
    clearTimeout(timer);
  }

  dispose(): Promise<void> {
    return this.stop();
  }
}
