// The part both HTTP config sources share: blocking watches that start with the first subscriber,
// and a rebuild of the snapshot once per tick of changes, published only when every watch it
// needs has answered. A rebuild that fails keeps the last good snapshot.
import type { Logger } from '../../shared/logger.js';
import { type ConfigSource, StaticConfigSource, type Unsubscribe } from '../config-source.js';
import type { ConsulApi } from './consul-api.js';
import type { Watch } from './watch.js';
import { WatchSet, type WatchSetOptions } from './watch-set.js';

export abstract class WatchedSource<T> implements ConfigSource<T> {
  protected readonly watches: WatchSet;
  private readonly out = new StaticConfigSource<T>();
  private scheduled = false;
  private started = false;

  constructor(
    api: ConsulApi,
    protected readonly logger: Logger,
    options?: WatchSetOptions,
  ) {
    this.watches = new WatchSet(api, () => this.schedule(), logger, options);
  }

  subscribe(onSnapshot: (snapshot: T) => void): Unsubscribe {
    if (!this.started) {
      this.started = true;
      this.watches.keep(this.initialWatches());
    }
    return this.out.subscribe(onSnapshot);
  }

  stop(): void {
    this.watches.stop();
  }

  /** What to watch from the start. */
  protected abstract initialWatches(): Watch<unknown>[];

  /** The snapshot from the current answers, or undefined while some are missing; may change the watched set. */
  protected abstract build(): T | undefined;

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      try {
        const snapshot = this.build();
        if (snapshot !== undefined) this.out.set(snapshot);
      } catch (err) {
        this.logger.error(
          { err: (err as Error).message },
          'could not build a configuration; keeping the last one',
        );
      }
    });
  }
}
