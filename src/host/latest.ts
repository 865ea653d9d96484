// Latest-only scheduling for work that newer input makes obsolete (live scoring while typing).
// Input is debounced; when a run starts while another is in flight, the one in flight is cancelled
// and the new one waits for it to end (at most one waits: newer input replaces it); only the
// newest input's result is delivered, so results never arrive out of order. The state is one timer,
// one run and one waiting input whatever the typing rate: memory stays bounded. No vscode import,
// so it is tested with a real engine client in plain Node.

export interface LatestOptions<T, R> {
  /** Quiet time after the last input before a run starts (ms). */
  delayMs: number;
  run: (input: T, signal: AbortSignal) => Promise<R>;
  /** The newest input's result. */
  deliver: (result: R, input: T) => void;
  /** The newest input's run failed (superseded runs fail silently: they were cancelled on purpose). */
  fail: (error: unknown, input: T) => void;
}

export class Latest<T, R> {
  private timer?: NodeJS.Timeout;
  private running?: { seq: number; controller: AbortController };
  private waiting?: { seq: number; input: T };
  /** Number of the newest input; a run delivers only if it still carries it. */
  private seq = 0;

  constructor(private readonly options: LatestOptions<T, R>) {}

  /** New input: runs after `delayMs` of quiet. */
  push(input: T): void {
    const seq = ++this.seq;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.start(seq, input), this.options.delayMs);
  }

  /** New input that runs at once (an explicit command), superseding everything before it. */
  now(input: T): void {
    clearTimeout(this.timer);
    this.start(++this.seq, input);
  }

  /** Drops pending input and cancels the run in flight; nothing more is delivered until new input. */
  cancel(): void {
    clearTimeout(this.timer);
    this.seq++;
    this.waiting = undefined;
    this.running?.controller.abort();
  }

  private start(seq: number, input: T): void {
    if (this.running) {
      this.waiting = { seq, input };
      this.running.controller.abort();
    } else {
      this.launch(seq, input);
    }
  }

  private launch(seq: number, input: T): void {
    const controller = new AbortController();
    this.running = { seq, controller };
    const current = () => seq === this.seq && !controller.signal.aborted;
    void this.options
      .run(input, controller.signal)
      .then(
        (result) => current() && this.options.deliver(result, input),
        (error: unknown) => current() && this.options.fail(error, input),
      )
      .finally(() => {
        this.running = undefined;
        const next = this.waiting;
        this.waiting = undefined;
        if (next) this.launch(next.seq, next.input);
      });
  }
}
