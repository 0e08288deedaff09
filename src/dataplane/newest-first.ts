// One change at a time, the newest first: what the HAProxy engines use to apply configuration snapshots.
// A snapshot offered while another is being applied waits; if several wait, only the newest is applied.
// Other work (restarting HAProxy) can be queued in the same line, so it never overlaps an apply.
import { type ConfigSource, subscribeFromFirst, type Unsubscribe } from './config-source.js';

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

  /**
   * Follows `source` for an engine that starts on its first snapshot: the snapshots that come while it
   * starts wait, and `open()` (once it has started) offers the newest of them, then every later one.
   */
  async follow(
    source: ConfigSource<T>,
    options: { timeoutMs: number; what: string },
  ): Promise<{ first: T; unsubscribe: Unsubscribe; open(): void }> {
    let opened = false;
    let waiting: { value: T } | undefined;
    const { first, unsubscribe } = await subscribeFromFirst(
      source,
      (snapshot) => {
        if (opened) this.offer(snapshot);
        else waiting = { value: snapshot };
      },
      options,
    );
    const open = (): void => {
      opened = true;
      if (waiting && waiting.value !== first) this.offer(waiting.value);
    };
    return { first, unsubscribe, open };
  }

  /** Resolves once everything queued so far has run. */
  settled(): Promise<void> {
    return this.chain;
  }
}
