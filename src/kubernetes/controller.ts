// The controller manager: for each kind, an informer feeding a work queue and workers running that
// kind's reconciler; plus a Secret informer that wakes the peering resources naming a Secret.
// Informers decide *what* to look at, reconcilers decide *what to do*; reconcilers never see a watch.
import {
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import type { Logger } from '../shared/logger.js';
import { CONFIG_ENTRY_RESOURCE_KINDS } from './config-entry-kinds.js';
import { ConfigEntryReconciler } from './config-entry-reconciler.js';
import type { CatalogWriter } from './endpoints/catalog-client.js';
import { EndpointsController } from './endpoints/controller.js';
import { KubeEventRecorder } from './events.js';
import { ResilientInformer } from './informer.js';
import { ClientNodeKubeApi, type KubeApi } from './kube-api.js';
import type { ControllerMetrics } from './metrics.js';
import { PeeringAcceptorReconciler } from './peering-acceptor-reconciler.js';
import { PeeringDialerReconciler } from './peering-dialer-reconciler.js';
import { PeeringWatch } from './peering-watch.js';
import type { Reconciler, ReconcilerDeps } from './reconciler.js';
import {
  type CustomResource,
  GROUP,
  objectKey,
  PEERING_ACCEPTOR,
  PEERING_DIALER,
  type ResourceKind,
  VERSION,
} from './resources.js';
import type { MeshServer } from './server-client.js';
import { ReconcileError } from './status.js';
import type { KindedResource } from './uniqueness.js';
import { WorkQueue } from './work-queue.js';

export interface ControllerManagerOptions {
  kubeConfig: KubeConfig;
  server: MeshServer;
  logger: Logger;
  /** Watch only this namespace; all namespaces when undefined. */
  namespace?: string;
  statusIntervalMs: number;
  resyncIntervalMs: number;
  /** Concurrent reconciles per kind (default 1). */
  workersPerKind?: number;
  datacenter?: string;
  metrics?: ControllerMetrics;
  /** Shown as the Events' source host. */
  identity?: string;
  /** Stands in for the Kubernetes API in tests. */
  kube?: KubeApi;
  /** Register injected pods in the catalog through this writer (the endpoints controller). */
  catalog?: CatalogWriter;
}

interface KindLoop {
  reconciler: Reconciler;
  queue: WorkQueue;
  informer: ResilientInformer<KubernetesObject>;
  workers: Promise<void>[];
}

export class ControllerManager {
  private readonly loops: KindLoop[] = [];
  private secrets: ResilientInformer<KubernetesObject> | undefined;
  private peeringWatch: PeeringWatch | undefined;
  private endpoints: EndpointsController | undefined;
  private readonly logger: Logger;
  private running = false;
  /** Which start() is current: a start() overtaken by stop() and a new start() must not finish. */
  private runId = 0;

  constructor(private readonly options: ControllerManagerOptions) {
    this.logger = options.logger;
  }

  /** Starts every informer and worker; resolves once the caches have been filled for the first time. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const runId = ++this.runId;
    const { kubeConfig, namespace } = this.options;
    const kube = this.options.kube ?? new ClientNodeKubeApi(kubeConfig);
    const deps: ReconcilerDeps = {
      kube,
      server: this.options.server,
      events: new KubeEventRecorder(kube, this.logger, this.options.identity),
      logger: this.logger,
      statusIntervalMs: this.options.statusIntervalMs,
      resyncIntervalMs: this.options.resyncIntervalMs,
      ...(this.options.datacenter ? { datacenter: this.options.datacenter } : {}),
      resources: () => this.cachedResources(),
    };
    const reconcilers: Reconciler[] = [
      new PeeringAcceptorReconciler(deps),
      new PeeringDialerReconciler(deps),
      ...CONFIG_ENTRY_RESOURCE_KINDS.map((kind) => new ConfigEntryReconciler(kind, deps)),
    ];
    const custom = kubeConfig.makeApiClient(CustomObjectsApi);
    for (const reconciler of reconcilers) {
      const kind = reconciler.kind;
      const queue = new WorkQueue({
        onDepthChange: (depth) => this.options.metrics?.queueDepth(kind.kind, depth),
      });
      this.options.metrics?.queueDepth(kind.kind, 0);
      const informer = new ResilientInformer<KubernetesObject>({
        name: kind.plural,
        kubeConfig,
        path: collectionPath(`/apis/${GROUP}/${VERSION}`, kind.plural, namespace),
        list: () => listCustomResources(custom, kind, namespace),
        onEvent: (_event, obj) => {
          if (obj.metadata?.name) queue.add(objectKey(obj.metadata));
        },
        logger: this.logger,
      });
      this.loops.push({ reconciler, queue, informer, workers: [] });
    }
    const core = kubeConfig.makeApiClient(CoreV1Api);
    this.secrets = new ResilientInformer<KubernetesObject>({
      name: 'secrets',
      kubeConfig,
      path: collectionPath('/api/v1', 'secrets', namespace),
      list: async () =>
        asList(
          namespace
            ? await core.listNamespacedSecret({ namespace })
            : await core.listSecretForAllNamespaces(),
        ),
      onEvent: (_event, secret) => this.wakeSecretUsers(secret),
      logger: this.logger,
    });

    const workers = Math.max(1, this.options.workersPerKind ?? 1);
    for (const loop of this.loops) {
      for (let i = 0; i < workers; i++) loop.workers.push(this.work(loop));
    }
    if (this.options.catalog) {
      this.endpoints = new EndpointsController({
        kubeConfig,
        catalog: this.options.catalog,
        logger: this.logger,
        resyncIntervalMs: this.options.resyncIntervalMs,
        ...(namespace ? { namespace } : {}),
      });
    }
    await Promise.all([
      ...this.loops.map((l) => l.informer.start()),
      this.secrets.start(),
      this.endpoints?.start(),
    ]);
    if (this.running && runId === this.runId) {
      this.peeringWatch = new PeeringWatch({
        server: this.options.server,
        onChange: (names) => this.wakePeeringResources(new Set(names)),
        logger: this.logger,
      });
      this.peeringWatch.start();
      this.logger.info(
        { namespace: namespace ?? '(all)', kinds: this.loops.length },
        'caches synced; reconciling',
      );
    }
  }

  /** Stops watching and waits for the reconciles in flight to finish. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await Promise.all([
      ...this.loops.map((l) => l.informer.stop()),
      this.secrets?.stop(),
      this.peeringWatch?.stop(),
      this.endpoints?.stop(),
    ]);
    this.endpoints = undefined;
    this.peeringWatch = undefined;
    for (const loop of this.loops) loop.queue.shutDown();
    await Promise.all(this.loops.flatMap((l) => l.workers));
    this.loops.length = 0;
    this.secrets = undefined;
  }

  /** Every watched resource in the caches, with its kind (for the uniqueness checks). */
  private *cachedResources(): Iterable<KindedResource> {
    for (const loop of this.loops) {
      for (const obj of loop.informer.list())
        yield { kind: loop.reconciler.kind, obj: obj as CustomResource };
    }
  }

  /** How often each informer has listed its collection (a re-list after a watch failure counts). */
  listCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const loop of this.loops) counts[loop.reconciler.kind.plural] = loop.informer.lists;
    if (this.secrets) counts.secrets = this.secrets.lists;
    return counts;
  }

  private async work(loop: KindLoop): Promise<void> {
    const { queue, reconciler } = loop;
    const kind = reconciler.kind.kind;
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      const started = performance.now();
      try {
        const result = await reconciler.reconcile(key);
        queue.forget(key);
        this.options.metrics?.reconciled(kind, 'success', (performance.now() - started) / 1000);
        if (result.requeueAfterMs && this.running) queue.addAfter(key, result.requeueAfterMs);
      } catch (err) {
        this.options.metrics?.reconciled(kind, 'error', (performance.now() - started) / 1000);
        const retryInMs = queue.addRateLimited(key);
        // A ReconcileError has been logged and shown in the status already.
        if (!(err instanceof ReconcileError)) {
          this.logger.warn(
            { kind, key, retryInMs, err: err instanceof Error ? err.message : String(err) },
            'reconcile failed',
          );
        } else {
          this.logger.debug({ kind, key, retryInMs }, 'retrying after backoff');
        }
      } finally {
        queue.done(key);
      }
    }
  }

  /** Peerings changed on the server: reconcile the acceptors and dialers of those names. */
  private wakePeeringResources(names: ReadonlySet<string>): void {
    for (const loop of this.peeringLoops()) {
      for (const obj of loop.informer.list()) {
        if (obj.metadata?.name && names.has(obj.metadata.name)) loop.queue.add(objectKey(obj.metadata));
      }
    }
  }

  private peeringLoops(): KindLoop[] {
    return this.loops.filter(
      (l) => l.reconciler.kind === PEERING_ACCEPTOR || l.reconciler.kind === PEERING_DIALER,
    );
  }

  /** A Secret changed: reconcile every peering resource that names it (in its spec or its status). */
  private wakeSecretUsers(secret: KubernetesObject): void {
    const namespace = secret.metadata?.namespace;
    const name = secret.metadata?.name;
    if (!namespace || !name) return;
    for (const loop of this.peeringLoops()) {
      for (const obj of loop.informer.list(namespace)) {
        if (namesSecret(obj, name) && obj.metadata) loop.queue.add(objectKey(obj.metadata));
      }
    }
  }
}

function namesSecret(obj: KubernetesObject, secretName: string): boolean {
  const { spec, status } = obj as KubernetesObject & { spec?: unknown; status?: unknown };
  return (
    secretNameIn(spec, ['peer', 'secret', 'name']) === secretName ||
    secretNameIn(status, ['secret', 'name']) === secretName
  );
}

function secretNameIn(value: unknown, path: string[]): string | undefined {
  let current = value;
  for (const segment of path) {
    if (!current || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return typeof current === 'string' ? current : undefined;
}

function collectionPath(prefix: string, plural: string, namespace: string | undefined): string {
  return namespace
    ? `${prefix}/namespaces/${encodeURIComponent(namespace)}/${plural}`
    : `${prefix}/${plural}`;
}

async function listCustomResources(
  custom: CustomObjectsApi,
  kind: ResourceKind,
  namespace: string | undefined,
): Promise<KubernetesListObject<KubernetesObject>> {
  const body: unknown = namespace
    ? await custom.listNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: kind.plural,
        namespace,
      })
    : await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: kind.plural });
  return asList(body);
}

function asList(body: unknown): KubernetesListObject<KubernetesObject> {
  const list = (body ?? {}) as { items?: unknown; metadata?: { resourceVersion?: string } };
  const items = Array.isArray(list.items) ? (list.items as KubernetesObject[]) : [];
  return { metadata: { resourceVersion: list.metadata?.resourceVersion ?? '' }, items };
}
