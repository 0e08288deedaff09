// One change at a time, the newest first: what the HAProxy engines use to apply configuration snapshots.
// A snapshot offered while another is being applied waits; if several wait, only the newest is applied.
// Other work (restarting HAProxy) can be queued in the same line, so it never overlaps an apply.

export class NewestFirst<T> {
  private chain: Promise<void> = Promise.resolve();
  private pending: { value: T } | undefined;

  constructor(
    private readonly apply: (value: T) => Promise<void>,
    /** Told about a failed apply or queued work; the line goes on with the next one. */
    private readonly onError: (err: Error) => void,
  ) {}

  /** Applies `value` after what is queued now, unless a newer value is offered before its turn. */
  offer(value: T): void {
    const queued = this.pending !== undefined;
    this.pending = { value };
    if (queued) return; // the turn already queued takes the newest
    this.run(async () => {
      const next = this.pending;
      this.pending = undefined;
      if (next) await this.apply(next.value);
    });
  }

  /** Runs `work` after everything queued before it. */
  run(work: () => Promise<void>): void {
    this.chain = this.chain.then(work).catch((err: unknown) => this.onError(err as Error));
  }

  /** Resolves once everything queued so far has run. */
  settled(): Promise<void> {
    return this.chain;
  }
}
