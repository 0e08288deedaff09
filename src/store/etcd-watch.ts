// One resumable etcd watch over a key prefix, feeding a replica's mirror. It always (re)starts from the
// revision after the last one the mirror applied, so a dropped stream loses nothing; when etcd says that
// revision is compacted away it asks for a full reload instead of skipping the gap.
import type { Etcd3, IDuplexStream, IEvent, IWatchRequest, IWatchResponse } from 'etcd3';
import { prefixRangeEnd } from './etcd-layout.js';

export interface WatchHandlers {
  /** The revision to watch from: the mirror's last applied revision + 1. */
  startRevision(): number;
  /** Events of one response, in revision order (all events of a revision come in one response). */
  onEvents(events: readonly IEvent[]): void;
  /** The start revision was compacted: reload everything, then the watch resumes after the reload. */
  onCompacted(compactRevision: number): Promise<void>;
  /** The stream is (re)established (true) or lost (false, with the reason). */
  onState(connected: boolean, reason?: string): void;
}

const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 2_000;

export class PrefixWatch {
  private stopped = false;
  private stream: IDuplexStream<IWatchRequest, IWatchResponse> | undefined;
  private wake: (() => void) | undefined;
  private abortStream: (() => void) | undefined;
  private readonly done: Promise<void>;

  constructor(
    private readonly client: Etcd3,
    private readonly prefix: Buffer,
    private readonly handlers: WatchHandlers,
  ) {
    this.done = this.run();
  }

  private async run(): Promise<void> {
    let backoff = MIN_BACKOFF_MS;
    while (!this.stopped) {
      let compacted = 0;
      let reason = 'the watch stream ended';
      try {
        compacted = await this.watchOnce(() => {
          backoff = MIN_BACKOFF_MS;
        });
      } catch (err) {
        reason = (err as Error).message;
      }
      this.stream = undefined;
      if (this.stopped) break;
      if (compacted > 0) {
        this.handlers.onState(false, `revision ${this.handlers.startRevision()} was compacted; reloading`);
        try {
          await this.handlers.onCompacted(compacted);
          continue;
        } catch (err) {
          reason = `full reload failed: ${(err as Error).message}`;
        }
      }
      this.handlers.onState(false, reason);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, backoff);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
      backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
    }
  }

  /** Runs one stream until it fails or ends; resolves with the compact revision if etcd cancelled it so. */
  private async watchOnce(onCreated: () => void): Promise<number> {
    const stream = await this.client.watchClient.watch();
    this.stream = stream;
    if (this.stopped) {
      stream.cancel();
      return 0;
    }
    return new Promise<number>((resolve, reject) => {
      this.abortStream = () => resolve(0);
      stream.on('data', (res) => {
        if (res.canceled) {
          stream.cancel();
          const compact = Number(res.compact_revision);
          if (compact > 0) resolve(compact);
          else reject(new Error(`etcd cancelled the watch: ${res.cancel_reason || 'no reason given'}`));
          return;
        }
        if (res.created) {
          onCreated();
          this.handlers.onState(true);
        }
        if (res.events.length > 0) this.handlers.onEvents(res.events);
      });
      stream.on('error', (err) => reject(err));
      stream.on('end', () => reject(new Error('etcd closed the watch stream')));
      stream.write({
        create_request: {
          key: this.prefix,
          range_end: prefixRangeEnd(this.prefix),
          start_revision: String(this.handlers.startRevision()),
          progress_notify: true,
        },
      });
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stream?.cancel();
    this.abortStream?.();
    this.wake?.();
    await this.done;
  }
}
