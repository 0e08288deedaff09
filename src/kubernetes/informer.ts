// List/watch of one resource type into a local cache, with handlers for each change. Built on
// @kubernetes/client-node's informer, which stops for good on any error other than an expired
// resourceVersion: this one then throws that informer away and starts a new one after a backoff, so a
// restarted or unreachable API server leads to a full re-list (every object is handed to the handlers
// again) rather than a silent stop.
import {
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  makeInformer,
} from '@kubernetes/client-node';
import type { Logger } from '../shared/logger.js';
import { toKubeError } from './kube-api.js';
import { ExponentialBackoff } from './work-queue.js';

export type WatchEvent = 'add' | 'update' | 'delete';

export interface InformerOptions<T extends KubernetesObject> {
  /** For logs: "peeringacceptors", "secrets". */
  name: string;
  kubeConfig: KubeConfig;
  /** The collection's API path, e.g. /api/v1/namespaces/default/secrets. */
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  onEvent: (event: WatchEvent, obj: T) => void;
  logger: Logger;
  /** Delay between restarts after failures (default 200 ms doubling to 5 s). */
  backoff?: ExponentialBackoff;
}

type ClientInformer<T extends KubernetesObject> = ReturnType<typeof makeInformer<T>>;

export class ResilientInformer<T extends KubernetesObject> {
  private current: ClientInformer<T> | undefined;
  /** Bumped on every (re)start; callbacks of an informer from an older generation are ignored. */
  private generation = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private listedOnce = false;
  private readonly backoff: ExponentialBackoff;
  private readonly synced: Promise<void>;
  private markSynced: () => void = () => {};
  /** How many times the collection was listed; a re-list after an error raises it. */
  lists = 0;

  constructor(private readonly options: InformerOptions<T>) {
    this.backoff = options.backoff ?? new ExponentialBackoff();
    this.synced = new Promise((resolve) => {
      this.markSynced = resolve;
    });
  }

  /** Starts watching; resolves once the first list has filled the cache (or on stop). */
  start(): Promise<void> {
    this.stopped = false;
    this.launch();
    return this.synced;
  }

  get hasSynced(): boolean {
    return this.listedOnce;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.generation++;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const informer = this.current;
    this.current = undefined;
    this.markSynced();
    await informer?.stop();
  }

  /** The cached objects, optionally of one namespace. */
  list(namespace?: string): readonly T[] {
    return this.current?.list(namespace) ?? [];
  }

  private launch(): void {
    const generation = ++this.generation;
    const live = (): boolean => generation === this.generation && !this.stopped;
    const { name, logger } = this.options;
    const informer = makeInformer<T>(this.options.kubeConfig, this.options.path, async () => {
      const list = await this.options.list();
      if (live()) {
        this.lists++;
        this.backoff.forget(name);
        if (!this.listedOnce) {
          this.listedOnce = true;
          this.markSynced();
        }
        logger.debug({ informer: name, items: list.items.length }, 'listed');
      }
      return list;
    });
    for (const event of ['add', 'update', 'delete'] as const) {
      informer.on(event, (obj: T) => {
        if (live()) this.options.onEvent(event, obj);
      });
    }
    informer.on('error', (err?: unknown) => {
      if (live()) this.restartAfterError(err);
    });
    this.current = informer;
    informer.start().catch((err: unknown) => {
      if (live()) this.restartAfterError(err);
    });
  }

  private restartAfterError(err: unknown): void {
    const { name, logger } = this.options;
    const failed = this.current;
    this.generation++;
    void failed?.stop();
    const delay = this.backoff.next(name);
    logger.warn(
      { informer: name, err: toKubeError(err, `watch ${name}`).message, retryInMs: delay },
      'watch failed; re-listing after a pause',
    );
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.stopped) this.launch();
    }, delay);
  }
}
