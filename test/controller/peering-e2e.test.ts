// Cluster peering on Kubernetes end to end, as the seed describes it: two real kube-apiservers, two
// real meshpeer servers, two `meshpeer controller` processes. The seed's YAML is applied unchanged,
// the token Secret is copied between clusters the way a user would, and every check reads what a user
// would read (kubectl, the servers' HTTP API). Also: a controller SIGKILLed mid-reconcile, and a
// kube-apiserver restart under a running controller.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { docsFailoverResolver, seedAcceptor, seedDialer, seedMesh } from '../fixtures/seed.js';
import { type KubeApiServer, kubectlOk } from '../support/kube-apiserver.js';
import { api, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';
import {
  getJson,
  type KubeObject,
  type Proc,
  restartApiServer,
  startCluster,
  startController,
  synced,
  waitFor,
} from './support/processes.js';

const exportedServices = `apiVersion: consul.hashicorp.com/v1alpha1
kind: ExportedServices
metadata:
  name: default
spec:
  services:
    - name: backend
      consumers:
        - peer: cluster-02
`;

interface PeeringView {
  State: string;
  StreamStatus?: { ImportedServices?: string[]; ExportedServices?: string[] };
}

async function peeringOn(server: ServerProcess, name: string): Promise<PeeringView | undefined> {
  const r = await api<PeeringView>(`${server.url}/v1/peering/${name}`);
  return r.status === 200 ? r.body : undefined;
}

/** `kubectl get secret -o yaml | kubectl apply` into the other cluster, with server-set metadata removed. */
async function copySecret(from: string, to: string, name: string): Promise<void> {
  const doc = parse(await kubectlOk(from, ['get', 'secret', name, '-o', 'yaml'])) as KubeObject;
  for (const field of ['uid', 'resourceVersion', 'creationTimestamp', 'managedFields', 'namespace']) {
    delete doc.metadata[field];
  }
  delete doc.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration'];
  await kubectlOk(to, ['apply', '-f', '-'], stringify(doc));
}

function acceptorNamed(name: string, secret: string): string {
  return seedAcceptor
    .replace('name: cluster-02 ##', `name: ${name} ##`)
    .replace('"peering-token"', `"${secret}"`);
}

function tokenOf(secret: KubeObject | undefined): string {
  return Buffer.from(secret?.data?.data ?? '', 'base64').toString('utf8');
}

describe('cluster peering on Kubernetes, end to end', () => {
  let k1: KubeApiServer | undefined;
  let k2: KubeApiServer | undefined;
  let s1: ServerProcess | undefined;
  let s2: ServerProcess | undefined;
  const controllers: Proc[] = [];
  let c1: Proc;
  let c2: Proc;
  let kc1 = '';
  let kc2 = '';

  const controllerFor = (kubeconfig: string, server: ServerProcess): Promise<Proc> =>
    startController([
      '--kubeconfig',
      kubeconfig,
      '--server',
      server.url,
      // The default status interval (30 s): states must arrive through the server watch.
      '--resync-period',
      '2s',
    ]);
  const logs = (): string =>
    `--- controller 1\n${c1?.output().slice(-3000)}\n--- controller 2\n${c2?.output().slice(-3000)}`;

  beforeAll(async () => {
    [k1, k2, s1, s2] = await Promise.all([
      startCluster('peer-01'),
      startCluster('peer-02'),
      startServerProcess({ datacenter: 'cluster-01' }),
      startServerProcess({ datacenter: 'cluster-02' }),
    ]);
    kc1 = k1.kubeconfigPath;
    kc2 = k2.kubeconfigPath;
    [c1, c2] = await Promise.all([controllerFor(kc1, s1), controllerFor(kc2, s2)]);
    controllers.push(c1, c2);
  }, 180_000);

  afterAll(async () => {
    await Promise.all(controllers.map((c) => c.stop()));
    await Promise.all([s1?.stop(), s2?.stop(), k1?.stop(), k2?.stop()]);
  });

  it("the seed's PeeringAcceptor on cluster-01 puts a peering token in Secret peering-token", async () => {
    await kubectlOk(kc1, ['apply', '-f', '-'], seedAcceptor);
    const secret = await waitFor(async () => (await getJson(kc1, ['secret', 'peering-token'])) ?? false, {
      what: 'the token Secret',
      onTimeout: logs,
    });
    const token = JSON.parse(Buffer.from(tokenOf(secret), 'base64').toString('utf8')) as { PeerID: string };
    expect(token.PeerID).toBeTruthy();
    expect((await peeringOn(s1!, 'cluster-02'))?.State).toBe('PENDING');
  });

  it("with the Secret copied to cluster-02, the seed's PeeringDialer peers the servers: both Synced, both ACTIVE", async () => {
    await copySecret(kc1, kc2, 'peering-token');
    await kubectlOk(kc2, ['apply', '-f', '-'], seedDialer);
    await waitFor(async () => (await peeringOn(s2!, 'cluster-01'))?.State === 'ACTIVE', {
      what: 'the dialing server to be ACTIVE',
      onTimeout: logs,
    });
    await waitFor(async () => (await peeringOn(s1!, 'cluster-02'))?.State === 'ACTIVE', {
      what: 'the accepting server',
    });
    const dialer = await waitFor(
      async () => {
        const pd = await getJson(kc2, ['peeringdialer', 'cluster-01']);
        return synced(pd)?.status === 'True' && pd?.status?.peeringState === 'ACTIVE' ? pd : false;
      },
      { what: 'the dialer to be Synced and ACTIVE', onTimeout: logs },
    );
    const copied = await getJson(kc2, ['secret', 'peering-token']);
    expect(dialer.status?.secret?.resourceVersion).toBe(copied?.metadata.resourceVersion);
    await waitFor(
      async () => {
        const pa = await getJson(kc1, ['peeringacceptor', 'cluster-02']);
        return synced(pa)?.status === 'True' && pa?.status?.peeringState === 'ACTIVE';
      },
      { what: 'the acceptor to show ACTIVE', onTimeout: logs },
    );
    expect(await kubectlOk(kc2, ['get', 'peering-dialer', '--no-headers'])).toMatch(
      /^cluster-01\s+True\s+\S+\s+ACTIVE\s/,
    );
    expect(await kubectlOk(kc1, ['get', 'peering-acceptor', '--no-headers'])).toMatch(
      /^cluster-02\s+True\s+\S+\s+ACTIVE\s/,
    );
  });

  it('raising the peering-version annotation regenerates the token; the copied Secret re-establishes', async () => {
    const before = tokenOf(await getJson(kc1, ['secret', 'peering-token']));
    await kubectlOk(kc1, [
      'annotate',
      'peeringacceptor',
      'cluster-02',
      'consul.hashicorp.com/peering-version=1',
    ]);
    const after = await waitFor(
      async () => {
        const token = tokenOf(await getJson(kc1, ['secret', 'peering-token']));
        return token !== before ? token : false;
      },
      { what: 'a regenerated token', onTimeout: logs },
    );
    const acceptor = await waitFor(
      async () => {
        const pa = await getJson(kc1, ['peeringacceptor', 'cluster-02']);
        return pa?.status?.latestPeeringVersion === 1 ? pa : false;
      },
      { what: 'latestPeeringVersion 1' },
    );
    expect(acceptor.status?.secret?.latestHash).toBe(createHash('sha256').update(after).digest('hex'));

    const establishedBefore = await establishEvents(kc2);
    await copySecret(kc1, kc2, 'peering-token');
    await waitFor(async () => (await establishEvents(kc2)) > establishedBefore, {
      what: 'the dialer to establish again with the new token',
      onTimeout: logs,
    });
    await waitFor(
      async () => {
        const pd = await getJson(kc2, ['peeringdialer', 'cluster-01']);
        return synced(pd)?.status === 'True' && pd?.status?.peeringState === 'ACTIVE';
      },
      { what: 'the dialer to be ACTIVE again', onTimeout: logs },
    );
    expect((await peeringOn(s1!, 'cluster-02'))?.State).toBe('ACTIVE');
  });

  it("the seed's Mesh and an ExportedServices make backend appear in cluster-02 under ?peer=cluster-01", async () => {
    const register = await api(`${s1!.url}/v1/catalog/register`, {
      method: 'PUT',
      json: {
        Node: 'node-a',
        Address: '10.0.0.1',
        Service: { ID: 'backend-1', Service: 'backend', Port: 8080, Address: '10.0.0.1' },
        Checks: [{ CheckID: 'backend-1:alive', Name: 'alive', Status: 'passing', ServiceID: 'backend-1' }],
      },
    });
    expect(register.status).toBe(200);
    await kubectlOk(kc1, ['apply', '-f', '-'], `${seedMesh}---\n${exportedServices}`);
    await kubectlOk(kc2, ['apply', '-f', '-'], seedMesh);

    const imported = await waitFor(
      async () => {
        const r = await api<Array<{ Service: { Service: string; PeerName?: string } }>>(
          `${s2!.url}/v1/health/service/backend?peer=cluster-01`,
        );
        return r.status === 200 && r.body.length > 0 ? r.body : false;
      },
      { what: 'backend imported into cluster-02', onTimeout: logs },
    );
    expect(imported[0]?.Service).toMatchObject({ Service: 'backend', PeerName: 'cluster-01' });
    // The dialer's status says more than ACTIVE: how much crosses and when the peer was last heard.
    const dialerStatus = await waitFor(
      async () => {
        const d = (await getJson(kc2, ['peeringdialer', 'cluster-01'])) as
          | { status?: { importedServices?: number; exportedServices?: number; lastReceiveTime?: string } }
          | undefined;
        return (d?.status?.importedServices ?? 0) >= 1 ? d?.status : false;
      },
      { what: 'dialer status counting the imported service', onTimeout: logs },
    );
    expect(dialerStatus?.exportedServices).toBe(0);
    expect(Date.parse(dialerStatus?.lastReceiveTime ?? '')).toBeGreaterThan(Date.now() - 120_000);
    expect(await kubectlOk(kc2, ['get', 'peering-dialer', 'cluster-01', '--no-headers'])).toMatch(
      /^cluster-01\s+True\s+\S+\s+ACTIVE\s+1\s+0\s/,
    );

    for (const [kc, server] of [
      [kc1, s1!],
      [kc2, s2!],
    ] as const) {
      await waitFor(async () => synced(await getJson(kc, ['mesh', 'mesh']))?.status === 'True', {
        what: 'Mesh Synced',
      });
      const mesh = await api<{
        Meta?: Record<string, string>;
        Peering?: { PeerThroughMeshGateways?: boolean };
      }>(`${server.url}/v1/config/mesh/mesh`);
      expect(mesh.body.Meta?.['external-source']).toBe('kubernetes');
      expect(mesh.body.Peering?.PeerThroughMeshGateways).toBe(true);
    }
    expect(synced(await getJson(kc1, ['exportedservices', 'default']))?.status).toBe('True');

    // Entries already as the resources say are not written again on resync (every 2 s here).
    const indexes = async (): Promise<number[]> =>
      Promise.all(
        ['mesh/mesh', 'exported-services/default'].map(
          async (path) =>
            (await api<{ ModifyIndex: number }>(`${s1!.url}/v1/config/${path}`)).body.ModifyIndex,
        ),
      );
    const before = await indexes();
    await new Promise((r) => setTimeout(r, 2_500));
    expect(await indexes()).toEqual(before);
  });

  it("the ServiceResolver from Consul's peering failover docs, applied verbatim, becomes the resolver the sidecars follow; an unknown peer is reported", async () => {
    const peersKnown = async (): Promise<
      { status?: string; reason?: string; message?: string } | undefined
    > => {
      const obj = (await getJson(kc2, ['serviceresolver', 'backend'])) as {
        status?: { conditions?: Array<{ type: string; status?: string; reason?: string; message?: string }> };
      };
      return obj?.status?.conditions?.find((c) => c.type === 'PeersKnown');
    };
    await kubectlOk(kc2, ['apply', '-f', '-'], docsFailoverResolver('cluster-01'));
    const entry = await waitFor(
      async () => {
        const r = await api<{
          ConnectTimeout?: string;
          Failover?: Record<string, { Targets?: Array<Record<string, string>> }>;
        }>(`${s2!.url}/v1/config/service-resolver/backend`);
        return r.status === 200 ? r.body : false;
      },
      { what: 'the service-resolver entry on cluster-02', onTimeout: logs },
    );
    expect(entry.ConnectTimeout).toBe('15s');
    expect(entry.Failover?.['*']?.Targets).toEqual([
      { Peer: 'cluster-01', Service: 'backend', Namespace: 'default' },
    ]);
    await waitFor(async () => (await peersKnown())?.status === 'True', {
      what: 'PeersKnown True',
      onTimeout: logs,
    });

    // A peer this cluster does not have: accepted (the peering may come later, as Consul allows), reported.
    await kubectlOk(kc2, ['apply', '-f', '-'], docsFailoverResolver('cluster-03'));
    const unknown = await waitFor(
      async () => {
        const c = await peersKnown();
        return c?.status === 'False' ? c : false;
      },
      { what: 'PeersKnown False', onTimeout: logs },
    );
    expect(unknown.reason).toBe('UnknownPeer');
    expect(unknown.message).toBe('failover target peer "cluster-03" is not a peering of this cluster');
    expect(synced(await getJson(kc2, ['serviceresolver', 'backend']))?.status).toBe('True');
    expect(
      (
        await api<{ Failover?: Record<string, { Targets?: Array<{ Peer?: string }> }> }>(
          `${s2!.url}/v1/config/service-resolver/backend`,
        )
      ).body.Failover?.['*']?.Targets?.[0]?.Peer,
    ).toBe('cluster-03');
    const events = await kubectlOk(kc2, [
      'get',
      'events',
      '--field-selector',
      'reason=UnknownPeer',
      '-o',
      'name',
    ]);
    expect(events.trim()).not.toBe('');
    await kubectlOk(kc2, ['delete', 'serviceresolver', 'backend']);
    await waitFor(async () => (await api(`${s2!.url}/v1/config/service-resolver/backend`)).status === 404, {
      what: 'the entry deleted with the resource',
      onTimeout: logs,
    });
  });

  it('with peering through mesh gateways and no gateway registered, a new acceptor says so, then recovers', async () => {
    await kubectlOk(kc1, ['apply', '-f', '-'], acceptorNamed('cluster-03', 'token-03'));
    const refused = await waitFor(
      async () => {
        const c = synced(await getJson(kc1, ['peeringacceptor', 'cluster-03']));
        return c?.status === 'False' ? c : false;
      },
      { what: 'the acceptor to report the missing gateway', onTimeout: logs },
    );
    expect(refused.reason).toBe('ConsulAgentError');
    expect(refused.message).toContain('no mesh gateway is registered');

    const gateway = await api(`${s1!.url}/v1/catalog/register`, {
      method: 'PUT',
      json: {
        Node: 'gateway-node',
        Address: '127.0.0.1',
        Service: {
          ID: 'mesh-gateway',
          Service: 'mesh-gateway',
          Kind: 'mesh-gateway',
          Port: 8443,
          Address: '127.0.0.1',
        },
      },
    });
    expect(gateway.status).toBe(200);
    await waitFor(
      async () => synced(await getJson(kc1, ['peeringacceptor', 'cluster-03']))?.status === 'True',
      {
        what: 'the acceptor to recover (backoff is capped at 5 s)',
        timeoutMs: 15_000,
        onTimeout: logs,
      },
    );
    const token = JSON.parse(
      Buffer.from(tokenOf(await getJson(kc1, ['secret', 'token-03'])), 'base64').toString('utf8'),
    ) as {
      ServerAddresses: string[];
    };
    expect(token.ServerAddresses).toEqual(['127.0.0.1:8443']);
  });

  it('a controller killed with SIGKILL in the middle of a reconcile converges once restarted', async () => {
    await kubectlOk(kc1, ['apply', '-f', '-'], acceptorNamed('cluster-04', 'token-04'));
    // Freeze the controller as soon as the server has a peering for it (it is then between generating
    // the token and writing the Secret and the status), look, and kill it.
    await waitFor(async () => (await peeringOn(s1!, 'cluster-04')) !== undefined, {
      what: 'the token to be generated',
      intervalMs: 2,
    });
    process.kill(c1.pid, 'SIGSTOP');
    const statusAtKill = (await getJson(kc1, ['peeringacceptor', 'cluster-04']))?.status;
    await c1.stop('SIGKILL');

    c1 = await controllerFor(kc1, s1!);
    controllers.push(c1);
    const pa = await waitFor(
      async () => {
        const obj = await getJson(kc1, ['peeringacceptor', 'cluster-04']);
        return obj && synced(obj)?.status === 'True' ? obj : false;
      },
      { what: 'the restarted controller to converge', onTimeout: logs },
    );
    const secret = await getJson(kc1, ['secret', 'token-04']);
    const token = tokenOf(secret);
    expect(pa.status?.secret?.latestHash).toBe(createHash('sha256').update(token).digest('hex'));
    expect(pa.metadata.finalizers).toEqual(['finalizers.consul.hashicorp.com']);
    // The token in the Secret is the server's current one for this peering.
    const decoded = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { PeerID: string };
    const onServer = await api<{ ID: string }>(`${s1!.url}/v1/peering/cluster-04`);
    expect(decoded.PeerID).toBe(onServer.body.ID);
    // The kill did interrupt the reconcile: the token had been generated, the status not yet written.
    expect(statusAtKill?.secret).toBeUndefined();
  });

  it('after a kube-apiserver restart the controller re-lists and keeps reconciling', async () => {
    await restartApiServer(k1!);
    await kubectlOk(
      kc1,
      ['apply', '-f', '-'],
      `apiVersion: consul.hashicorp.com/v1alpha1
kind: ServiceIntentions
metadata:
  name: backend
spec:
  destination:
    name: backend
  sources:
    - name: frontend
      peer: cluster-02
      action: allow
`,
    );
    await waitFor(async () => (await api(`${s1!.url}/v1/config/service-intentions/backend`)).status === 200, {
      what: 'the intentions written after the restart',
      timeoutMs: 20_000,
      onTimeout: logs,
    });
    expect(c1.output()).toContain('re-listing after a pause');
    expect(synced(await getJson(kc1, ['serviceintentions', 'backend']))?.status).toBe('True');
  });

  it('deleting the dialer deletes the peering on cluster-02 and terminates it on cluster-01', async () => {
    await kubectlOk(kc2, ['delete', 'peeringdialer', 'cluster-01', '--timeout=30s']);
    expect(await peeringOn(s2!, 'cluster-01')).toBeUndefined();
    await waitFor(async () => (await peeringOn(s1!, 'cluster-02'))?.State === 'TERMINATED', {
      what: 'the acceptor side to be TERMINATED',
    });
    const condition = await waitFor(
      async () => {
        const c = synced(await getJson(kc1, ['peeringacceptor', 'cluster-02']));
        return c?.status === 'False' ? c : false;
      },
      { what: 'the acceptor to report the termination', onTimeout: logs },
    );
    expect(condition.reason).toBe('PeeringTerminated');
    expect(await kubectlOk(kc1, ['get', 'peering-acceptor', 'cluster-02', '--no-headers'])).toMatch(
      /^cluster-02\s+False\s+\S+\s+TERMINATED\s/,
    );
    expect(condition.message).toContain('consul.hashicorp.com/peering-version');
    // Imports from the deleted peering are gone.
    const imported = await api<unknown[]>(`${s2!.url}/v1/health/service/backend?peer=cluster-01`);
    expect(imported.body).toEqual([]);

    await kubectlOk(kc1, ['delete', 'peeringacceptor', 'cluster-02', '--timeout=30s']);
    await waitFor(async () => (await peeringOn(s1!, 'cluster-02')) === undefined, {
      what: 'the acceptor peering deleted',
    });
    expect(await getJson(kc1, ['secret', 'peering-token'])).toBeUndefined();
  });
});

async function establishEvents(kc: string): Promise<number> {
  const list = await getJson(kc, [
    'events',
    '--field-selector',
    'involvedObject.name=cluster-01,reason=PeeringEstablished',
  ]);
  return list?.items?.length ?? 0;
}
