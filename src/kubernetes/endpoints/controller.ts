// The endpoints controller: keeps the catalog's instances of injected pods equal to what the cluster
// runs. It watches Services and Pods; any change schedules one sync, which computes the wanted
// registrations (desired.ts), compares them with what it last saw in the catalog, and writes only the
// differences. At start, and every resync period, it re-reads the catalog's instances marked as its own,
// so a restart removes the orphans of pods deleted while it was down.
import {
  CoreV1Api,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import type { Logger } from '../../shared/logger.js';
import { ResilientInformer } from '../informer.js';
import { ExponentialBackoff } from '../work-queue.js';
import type { CatalogWriter } from './catalog-client.js';
import {
  desiredRegistrations,
  fingerprintOf,
  type Registration,
  type ServiceShape,
  type SyncPod,
} from './desired.js';

/** Catalog writes in flight at once during one sync. */
const WRITE_CONCURRENCY = 16;

export interface EndpointsControllerOptions {
  kubeConfig: KubeConfig;
  catalog: CatalogWriter;
  logger: Logger;
  /** Watch only this namespace; all namespaces when undefined. */
  namespace?: string;
  /** How often the catalog is re-read (orphans removed, drift repaired). */
  resyncIntervalMs: number;
}

interface Known {
  node: string;
  fingerprint: string;
}

export class EndpointsController {
  private services: ResilientInformer<KubernetesObject> | undefined;
  private pods: ResilientInformer<KubernetesObject> | undefined;
  /** What the catalog holds for us, by service ID; undefined until read (and after a failed write). */
  private known: Map<string, Known> | undefined;
  private running = false;
  private syncing: Promise<void> | undefined;
  private pending: NodeJS.Immediate | undefined;
  private dirty = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private readonly backoff = new ExponentialBackoff(200, 10_000);
  /** Registrations and deregistrations sent since start. */
  writes = 0;
  /** Completed syncs since start. */
  syncs = 0;

  constructor(private readonly options: EndpointsControllerOptions) {}

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const { kubeConfig, namespace, logger } = this.options;
    const core = kubeConfig.makeApiClient(CoreV1Api);
    const path = (plural: string) =>
      namespace ? `/api/v1/namespaces/${encodeURIComponent(namespace)}/${plural}` : `/api/v1/${plural}`;
    const onEvent = () => this.schedule();
    this.services = new ResilientInformer<KubernetesObject>({
      name: 'services',
      kubeConfig,
      path: path('services'),
      list: async () =>
        asList(
          namespace
            ? await core.listNamespacedService({ namespace })
            : await core.listServiceForAllNamespaces(),
        ),
      onEvent,
      logger,
    });
    this.pods = new ResilientInformer<KubernetesObject>({
      name: 'pods',
      kubeConfig,
      path: path('pods'),
      list: async () =>
        asList(
          namespace ? await core.listNamespacedPod({ namespace }) : await core.listPodForAllNamespaces(),
        ),
      onEvent,
      logger,
    });
    await Promise.all([this.services.start(), this.pods.start()]);
    if (!this.running) return;
    this.resyncTimer = setInterval(() => {
      this.known = undefined;
      this.schedule();
    }, this.options.resyncIntervalMs);
    this.resyncTimer.unref();
    this.schedule();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    if (this.pending) clearImmediate(this.pending);
    this.pending = undefined;
    await Promise.all([this.services?.stop(), this.pods?.stop()]);
    await this.syncing;
  }

  /**
   * Asks for a sync. It starts on the next turn of the event loop, never inside a watch callback: a
   * (re-)list hands its objects to the cache one event at a time, and a sync in between would see a
   * partial cache and deregister the rest.
   */
  private schedule(): void {
    if (!this.running || !this.services?.hasSynced || !this.pods?.hasSynced) return;
    if (this.syncing) {
      this.dirty = true;
      return;
    }
    if (this.pending) return;
    this.pending = setImmediate(() => {
      this.pending = undefined;
      if (!this.running || this.syncing) return;
      this.syncing = this.loop().finally(() => {
        this.syncing = undefined;
      });
    });
  }

  private async loop(): Promise<void> {
    do {
      this.dirty = false;
      try {
        await this.sync();
        this.backoff.forget('sync');
        this.syncs++;
      } catch (err) {
        this.known = undefined;
        const delay = this.backoff.next('sync');
        this.options.logger.warn(
          { err: err instanceof Error ? err.message : String(err), retryInMs: delay },
          'catalog sync failed; retrying',
        );
        if (this.retryTimer) clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.schedule();
        }, delay);
        return;
      }
    } while (this.dirty && this.running);
  }

  private async sync(): Promise<void> {
    const { catalog, logger } = this.options;
    if (!this.known) {
      const listed = await catalog.listManaged();
      this.known = new Map(listed.map((m) => [m.serviceID, { node: m.node, fingerprint: m.fingerprint }]));
      logger.debug({ instances: listed.length }, 'read the catalog instances of injected pods');
    }
    const known = this.known;
    const desired = desiredRegistrations(
      (this.services?.list() ?? []) as ServiceShape[],
      (this.pods?.list() ?? []) as SyncPod[],
    );
    const jobs: (() => Promise<void>)[] = [];
    let registered = 0;
    let removed = 0;
    for (const [id, was] of known) {
      const want = desired.get(id);
      if (want && want.Node === was.node) continue;
      jobs.push(async () => {
        await catalog.deregister(was.node, id);
        known.delete(id);
        removed++;
      });
    }
    const writes: [string, Registration][] = [];
    for (const [id, want] of desired) {
      const was = known.get(id);
      if (was && was.node === want.Node && was.fingerprint === fingerprintOf(want)) continue;
      writes.push([id, want]);
    }
    await runLimited(jobs, WRITE_CONCURRENCY);
    await runLimited(
      writes.map(([id, want]) => async () => {
        await catalog.register(want);
        known.set(id, { node: want.Node, fingerprint: fingerprintOf(want) });
        registered++;
      }),
      WRITE_CONCURRENCY,
    );
    this.writes += registered + removed;
    if (registered + removed > 0)
      logger.info({ registered, removed, instances: desired.size }, 'catalog synced');
  }
}

async function runLimited(jobs: (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (next < jobs.length && failure === undefined) {
      const job = jobs[next++];
      try {
        await job?.();
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  if (failure !== undefined) throw failure;
}

function asList(body: unknown): KubernetesListObject<KubernetesObject> {
  const list = (body ?? {}) as { items?: unknown; metadata?: { resourceVersion?: string } };
  const items = Array.isArray(list.items) ? (list.items as KubernetesObject[]) : [];
  return { metadata: { resourceVersion: list.metadata?.resourceVersion ?? '' }, items };
}
