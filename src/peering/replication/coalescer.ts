// Runs an async job at most once at a time. Requests that arrive while it runs collapse into one more
// run after it, so a burst of changes costs one or two runs, never a queue of them, and none is lost.

export class Coalescer {
  private scheduled = false;
  private running = false;
  private again = false;
  private closed = false;

  constructor(
    private readonly job: () => Promise<void>,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Asks for a run: soon if idle, once more after the current run if one is in progress. */
  request(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.run());
  }

  /** No run starts after this (a run in progress finishes on its own). */
  close(): void {
    this.closed = true;
  }

  /** True while a run is in progress or requested. */
  get busy(): boolean {
    return this.running || this.scheduled || this.again;
  }

  private run(): void {
    this.scheduled = false;
    if (this.closed) return;
    this.running = true;
    this.job()
      .catch(this.onError)
      .finally(() => {
        this.running = false;
        if (this.again) {
          this.again = false;
          this.request();
        }
      });
  }
}
