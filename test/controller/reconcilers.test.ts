// The reconcilers on their own, with an in-memory Kubernetes API and the stand-in server: the order
// of their steps (finalizer first, status written once), idempotence (a second reconcile of an
// unchanged object writes nothing), and the failure reasons they report.
import type { CoreV1Event, V1Secret } from '@kubernetes/client-node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MESH, SERVICE_INTENTIONS } from '../../src/kubernetes/config-entry-kinds.js';
import { ConfigEntryReconciler } from '../../src/kubernetes/config-entry-reconciler.js';
import { KubeEventRecorder } from '../../src/kubernetes/events.js';
import { type KubeApi, KubeError, type ResourceList } from '../../src/kubernetes/kube-api.js';
import { PeeringAcceptorReconciler } from '../../src/kubernetes/peering-acceptor-reconciler.js';
import { PeeringDialerReconciler } from '../../src/kubernetes/peering-dialer-reconciler.js';
import type { ReconcilerDeps } from '../../src/kubernetes/reconciler.js';
import {
  type CustomResource,
  type ObjectMeta,
  PEERING_ACCEPTOR,
  PEERING_DIALER,
  type ResourceKind,
} from '../../src/kubernetes/resources.js';
import { ServerClient } from '../../src/kubernetes/server-client.js';
import { ReconcileError } from '../../src/kubernetes/status.js';
import { silentLogger } from '../../src/shared/logger.js';
import { type FakeMeshServer, startFakeMeshServer } from './support/fake-mesh-server.js';

/** Objects keyed by "kind/namespace/name"; counts the writes a reconcile makes. */
class MemoryKube implements KubeApi {
  readonly objects = new Map<string, CustomResource>();
  readonly secrets = new Map<string, V1Secret>();
  readonly events: CoreV1Event[] = [];
  readonly writes: string[] = [];
  private version = 1;

  put(
    kind: ResourceKind,
    obj: Omit<CustomResource, 'metadata'> & { metadata: Partial<ObjectMeta> & { name: string } },
  ): void {
    const metadata = { namespace: 'default', resourceVersion: String(this.version++), ...obj.metadata };
    this.objects.set(`${kind.kind}/${metadata.namespace}/${metadata.name}`, { ...obj, metadata });
  }

  get(kind: ResourceKind, name: string): CustomResource | undefined {
    return this.objects.get(`${kind.kind}/default/${name}`);
  }

  async getResource(
    kind: ResourceKind,
    namespace: string,
    name: string,
  ): Promise<CustomResource | undefined> {
    const obj = this.objects.get(`${kind.kind}/${namespace}/${name}`);
    return obj ? structuredClone(obj) : undefined;
  }

  async listResources(kind: ResourceKind, namespace?: string): Promise<ResourceList> {
    const prefix = `${kind.kind}/${namespace ?? ''}`;
    const items = [...this.objects.entries()].filter(([key]) => key.startsWith(prefix)).map(([, obj]) => obj);
    return { items: structuredClone(items), resourceVersion: String(this.version) };
  }

  async setFinalizers(kind: ResourceKind, meta: ObjectMeta, finalizers: string[]): Promise<void> {
    const key = `${kind.kind}/${meta.namespace}/${meta.name}`;
    const obj = this.objects.get(key);
    if (!obj || obj.metadata.resourceVersion !== meta.resourceVersion) throw new KubeError('conflict', 409);
    this.writes.push('finalizers');
    if (obj.metadata.deletionTimestamp && finalizers.length === 0) {
      this.objects.delete(key);
      return;
    }
    obj.metadata = { ...obj.metadata, finalizers, resourceVersion: String(this.version++) };
  }

  async patchStatus(
    kind: ResourceKind,
    namespace: string,
    name: string,
    status: Record<string, unknown>,
  ): Promise<void> {
    const obj = this.objects.get(`${kind.kind}/${namespace}/${name}`);
    if (!obj) throw new KubeError('not found', 404);
    this.writes.push('status');
    obj.status = { ...(obj.status as Record<string, unknown> | undefined), ...status };
    obj.metadata.resourceVersion = String(this.version++);
  }

  async getSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
    const secret = this.secrets.get(`${namespace}/${name}`);
    return secret ? structuredClone(secret) : undefined;
  }

  async createSecret(namespace: string, secret: V1Secret): Promise<V1Secret> {
    this.writes.push('secret');
    const stored = { ...secret, metadata: { ...secret.metadata, resourceVersion: String(this.version++) } };
    this.secrets.set(`${namespace}/${secret.metadata?.name}`, stored);
    return stored;
  }

  replaceSecret(namespace: string, secret: V1Secret): Promise<V1Secret> {
    return this.createSecret(namespace, secret);
  }

  async deleteSecret(namespace: string, name: string): Promise<void> {
    this.writes.push('delete-secret');
    this.secrets.delete(`${namespace}/${name}`);
  }

  async createEvent(_namespace: string, event: CoreV1Event): Promise<void> {
    this.events.push(event);
  }
}

const secretRef = { name: 'peering-token', key: 'data', backend: 'kubernetes' };

describe('reconcilers with an in-memory Kubernetes API', () => {
  let fake: FakeMeshServer;
  let kube: MemoryKube;
  let deps: ReconcilerDeps;

  beforeAll(async () => {
    fake = await startFakeMeshServer();
  });
  afterAll(() => fake.close());
  beforeEach(() => {
    kube = new MemoryKube();
    fake.peerings.clear();
    fake.entries.clear();
    fake.requests.length = 0;
    fake.failWith = undefined;
    const logger = silentLogger();
    deps = {
      kube,
      server: new ServerClient({ address: fake.address }),
      events: new KubeEventRecorder(kube, logger),
      logger,
      statusIntervalMs: 1_000,
      resyncIntervalMs: 5_000,
    };
  });

  it('acceptor: adds the finalizer before touching the server, writes Secret and status once, then nothing', async () => {
    kube.put(PEERING_ACCEPTOR, { metadata: { name: 'cluster-02' }, spec: { peer: { secret: secretRef } } });
    const reconciler = new PeeringAcceptorReconciler(deps);

    expect(await reconciler.reconcile('default/cluster-02')).toEqual({ requeueAfterMs: 1_000 });
    expect(kube.writes).toEqual(['finalizers', 'secret', 'status']);
    expect(kube.events.map((e) => e.reason)).toEqual(['PeeringTokenGenerated']);

    kube.writes.length = 0;
    await reconciler.reconcile('default/cluster-02');
    expect(kube.writes).toEqual([]);
    expect(fake.requests.filter((r) => r === 'POST /v1/peering/token')).toHaveLength(1);
  });

  it('acceptor: says in TokenCurrent and a Warning Event when Mesh peerThroughMeshGateways changed after the token', async () => {
    kube.put(PEERING_ACCEPTOR, { metadata: { name: 'cluster-02' }, spec: { peer: { secret: secretRef } } });
    const reconciler = new PeeringAcceptorReconciler(deps);
    await reconciler.reconcile('default/cluster-02');
    expect(kube.get(PEERING_ACCEPTOR, 'cluster-02')?.status).toMatchObject({
      peerThroughMeshGateways: false,
    });

    fake.entries.set('mesh/mesh', {
      Kind: 'mesh',
      Name: 'mesh',
      Peering: { PeerThroughMeshGateways: true },
      CreateIndex: 1,
      ModifyIndex: 1,
    });
    await reconciler.reconcile('default/cluster-02');
    const status = kube.get(PEERING_ACCEPTOR, 'cluster-02')?.status as { conditions?: unknown[] } | undefined;
    const conditions = status?.conditions ?? [];
    expect(conditions).toContainEqual(
      expect.objectContaining({
        type: 'TokenCurrent',
        status: 'False',
        reason: 'MeshChangedAfterToken',
        message: expect.stringContaining(
          "the token in Secret peering-token carries the servers' addresses: Mesh spec.peering.peerThroughMeshGateways was turned on after it was generated",
        ),
      }),
    );
    expect(conditions).toContainEqual(expect.objectContaining({ type: 'Synced', status: 'True' }));
    expect(kube.events.filter((e) => e.type === 'Warning').map((e) => e.reason)).toEqual([
      'MeshChangedAfterToken',
    ]);
    await reconciler.reconcile('default/cluster-02');
    expect(kube.events.filter((e) => e.type === 'Warning')).toHaveLength(1);

    // Regenerating (the annotation the message names) clears it.
    const obj = kube.get(PEERING_ACCEPTOR, 'cluster-02');
    if (!obj) throw new Error('missing');
    obj.metadata.annotations = { 'consul.hashicorp.com/peering-version': '1' };
    await reconciler.reconcile('default/cluster-02');
    const after = kube.get(PEERING_ACCEPTOR, 'cluster-02')?.status as { conditions: { type: string }[] };
    expect(after).toMatchObject({ peerThroughMeshGateways: true });
    expect(after.conditions.map((c) => c.type)).toEqual(['Synced']);
  });

  it('acceptor: a raised version annotation regenerates; an invalid one is reported without retry', async () => {
    kube.put(PEERING_ACCEPTOR, { metadata: { name: 'cluster-02' }, spec: { peer: { secret: secretRef } } });
    const reconciler = new PeeringAcceptorReconciler(deps);
    await reconciler.reconcile('default/cluster-02');
    const obj = kube.get(PEERING_ACCEPTOR, 'cluster-02');
    if (!obj) throw new Error('missing');

    obj.metadata.annotations = { 'consul.hashicorp.com/peering-version': '2' };
    await reconciler.reconcile('default/cluster-02');
    expect(fake.requests.filter((r) => r === 'POST /v1/peering/token')).toHaveLength(2);
    expect(kube.get(PEERING_ACCEPTOR, 'cluster-02')?.status).toMatchObject({ latestPeeringVersion: 2 });

    obj.metadata.annotations = { 'consul.hashicorp.com/peering-version': 'two' };
    await reconciler.reconcile('default/cluster-02'); // not thrown: retrying cannot help
    expect(kube.get(PEERING_ACCEPTOR, 'cluster-02')?.status).toMatchObject({
      conditions: [{ type: 'Synced', status: 'False', reason: 'InvalidAnnotation' }],
    });
  });

  it('acceptor: a second acceptor naming the same Secret is refused; the first keeps its token', async () => {
    kube.put(PEERING_ACCEPTOR, {
      metadata: { name: 'cluster-02', creationTimestamp: '2025-01-01T00:00:00Z' },
      spec: { peer: { secret: secretRef } },
    });
    kube.put(PEERING_ACCEPTOR, {
      metadata: { name: 'cluster-03', creationTimestamp: '2025-01-02T00:00:00Z' },
      spec: { peer: { secret: secretRef } },
    });
    const reconciler = new PeeringAcceptorReconciler(deps);
    await reconciler.reconcile('default/cluster-03');
    await reconciler.reconcile('default/cluster-02');
    expect(kube.get(PEERING_ACCEPTOR, 'cluster-03')?.status).toMatchObject({
      conditions: [
        {
          status: 'False',
          reason: 'InvalidSecret',
          message: expect.stringContaining('already used by PeeringAcceptor cluster-02'),
        },
      ],
    });
    expect(kube.get(PEERING_ACCEPTOR, 'cluster-02')?.status).toMatchObject({
      conditions: [{ status: 'True' }],
    });
    expect(fake.requests.filter((r) => r === 'POST /v1/peering/token')).toHaveLength(1);
  });

  it('dialer: an unreachable server is ConsulAgentError, thrown so the queue backs off', async () => {
    kube.put(PEERING_DIALER, { metadata: { name: 'cluster-01' }, spec: { peer: { secret: secretRef } } });
    await kube.createSecret('default', {
      metadata: { name: 'peering-token' },
      data: { data: Buffer.from('dG9rZW4=').toString('base64') },
    });
    const reconciler = new PeeringDialerReconciler({
      ...deps,
      server: new ServerClient({ address: 'http://127.0.0.1:1', timeoutMs: 2_000 }),
    });
    const err = await reconciler.reconcile('default/cluster-01').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReconcileError);
    expect((err as ReconcileError).reason).toBe('ConsulAgentError');
    expect((err as ReconcileError).message).toContain(
      'cannot reach the meshpeer server at http://127.0.0.1:1',
    );
    expect(kube.events.map((e) => [e.type, e.reason])).toEqual([['Warning', 'ConsulAgentError']]);
    // Unknown, not failed and not the last state seen: nobody could ask the server.
    expect(kube.get(PEERING_DIALER, 'cluster-01')?.status).toMatchObject({
      peeringState: 'UNKNOWN',
      conditions: [
        {
          type: 'Synced',
          status: 'Unknown',
          reason: 'ConsulAgentError',
          message: expect.stringContaining("the peering's state is unknown until the server answers"),
        },
      ],
    });
    await reconciler.reconcile('default/cluster-01').catch(() => undefined);
    expect(kube.events).toHaveLength(1);
  });

  it('config entry: ServiceIntentions without a destination is a ValidationError; with one, the entry is named after it', async () => {
    kube.put(SERVICE_INTENTIONS, {
      metadata: { name: 'web' },
      spec: { sources: [{ name: 'api', action: 'allow' }] },
    });
    const reconciler = new ConfigEntryReconciler(SERVICE_INTENTIONS, deps);
    await reconciler.reconcile('default/web');
    expect(kube.get(SERVICE_INTENTIONS, 'web')?.status).toMatchObject({
      conditions: [
        {
          status: 'False',
          reason: 'ValidationError',
          message: expect.stringContaining('spec.destination.name'),
        },
      ],
    });

    const obj = kube.get(SERVICE_INTENTIONS, 'web');
    if (obj) obj.spec = { destination: { name: 'backend' }, sources: [{ name: 'api', action: 'allow' }] };
    await reconciler.reconcile('default/web');
    expect(fake.entries.get('service-intentions/backend')).toMatchObject({
      Name: 'backend',
      Sources: [{ Name: 'api', Action: 'allow' }],
    });
  });

  it('config entry: re-creating an entry deleted on the server moves lastSyncedTime', async () => {
    let now = new Date('2026-11-30T10:00:00Z');
    deps.now = () => now;
    kube.put(MESH, { metadata: { name: 'mesh' }, spec: {} });
    const reconciler = new ConfigEntryReconciler(MESH, deps);
    await reconciler.reconcile('default/mesh');
    expect(kube.get(MESH, 'mesh')?.status).toMatchObject({ lastSyncedTime: '2026-11-30T10:00:00Z' });

    now = new Date('2026-11-30T10:05:00Z');
    await reconciler.reconcile('default/mesh'); // nothing to do: the status stays as it was
    expect(kube.get(MESH, 'mesh')?.status).toMatchObject({ lastSyncedTime: '2026-11-30T10:00:00Z' });

    fake.entries.delete('mesh/mesh');
    now = new Date('2026-11-30T10:10:00Z');
    await reconciler.reconcile('default/mesh');
    expect(fake.entries.has('mesh/mesh')).toBe(true);
    expect(kube.get(MESH, 'mesh')?.status).toMatchObject({ lastSyncedTime: '2026-11-30T10:10:00Z' });
  });

  it('config entry: deleting the resource deletes only an entry the controller made', async () => {
    kube.put(MESH, { metadata: { name: 'mesh' }, spec: {} });
    const reconciler = new ConfigEntryReconciler(MESH, deps);
    await reconciler.reconcile('default/mesh');
    expect(fake.entries.has('mesh/mesh')).toBe(true);
    const obj = kube.get(MESH, 'mesh');
    if (obj) obj.metadata.deletionTimestamp = new Date().toISOString();
    await reconciler.reconcile('default/mesh');
    expect(fake.entries.has('mesh/mesh')).toBe(false);
    expect(kube.get(MESH, 'mesh')).toBeUndefined();
  });
});
