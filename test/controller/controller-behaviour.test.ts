// `meshpeer controller` as a real process against a real kube-apiserver, with a stand-in meshpeer
// server so each rule of its Kubernetes behaviour (README "On Kubernetes") can be checked directly:
// when tokens are (and are not) regenerated, what the Synced condition says when the server refuses,
// Secrets that are missing or malformed, config entries that belong to someone else, finalizers, and
// leader election between replicas.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KubeApiServer, kubectlOk } from '../support/kube-apiserver.js';
import { type FakeMeshServer, startFakeMeshServer } from './support/fake-mesh-server.js';
import {
  getJson,
  type KubeObject,
  type Proc,
  startCluster,
  startController,
  synced,
  waitFor,
} from './support/processes.js';

const acceptorYaml = (
  name: string,
  secret = 'peering-token',
  version?: number,
): string => `apiVersion: consul.hashicorp.com/v1alpha1
kind: PeeringAcceptor
metadata:
  name: ${name}
${version === undefined ? '' : `  annotations:\n    consul.hashicorp.com/peering-version: "${version}"\n`}spec:
  peer:
    secret:
      name: "${secret}"
      key: "data"
      backend: "kubernetes"
`;

const dialerYaml = (name: string, secret: string): string => `apiVersion: consul.hashicorp.com/v1alpha1
kind: PeeringDialer
metadata:
  name: ${name}
spec:
  peer:
    secret:
      name: "${secret}"
      key: "data"
      backend: "kubernetes"
`;

function tokenIn(secret: KubeObject | undefined): string | undefined {
  const data = secret?.data?.data;
  return data === undefined ? undefined : Buffer.from(data, 'base64').toString('utf8');
}

async function eventReasons(kc: string, name: string, namespace = 'default'): Promise<string[]> {
  const list = await getJson(kc, [
    'events',
    '-n',
    namespace,
    '--field-selector',
    `involvedObject.name=${name}`,
  ]);
  return (list?.items ?? []).map((e) => String(e.reason));
}

describe('meshpeer controller against a real kube-apiserver', () => {
  let api: KubeApiServer | undefined;
  let kc = '';
  let fake: FakeMeshServer;
  let controller: Proc | undefined;
  const extra: Proc[] = [];

  const logs = (): string => controller?.output() ?? '';

  beforeAll(async () => {
    [api, fake] = await Promise.all([startCluster('ctl-behaviour'), startFakeMeshServer()]);
    kc = api.kubeconfigPath;
    controller = await startController([
      '--kubeconfig',
      kc,
      '--server',
      fake.address,
      '--namespace',
      'default',
      '--status-interval',
      '500ms',
      '--resync-period',
      '2s',
      '--metrics-addr',
      '127.0.0.1:0',
    ]);
  }, 180_000);

  afterAll(async () => {
    await Promise.all([controller?.stop(), ...extra.map((p) => p.stop())]);
    await Promise.all([api?.stop(), fake?.close()]);
  });

  it('writes a token to the Secret named by a PeeringAcceptor, labels it, and reports Synced', async () => {
    await kubectlOk(kc, ['apply', '-f', '-'], acceptorYaml('cluster-02'));
    const acceptor = await waitFor(
      async () => {
        const pa = await getJson(kc, ['peeringacceptor', 'cluster-02']);
        return synced(pa)?.status === 'True' ? pa : false;
      },
      { what: 'the acceptor to be Synced', onTimeout: logs },
    );
    const secret = await getJson(kc, ['secret', 'peering-token']);
    expect(secret?.metadata.labels?.['consul.hashicorp.com/peering-token']).toBe('true');
    expect(tokenIn(secret)).toBe(fake.peerings.get('cluster-02')?.Token);
    expect(acceptor?.metadata.finalizers).toContain('finalizers.consul.hashicorp.com');
    expect(acceptor?.status).toMatchObject({
      latestPeeringVersion: 0,
      peeringState: 'PENDING',
      secret: { name: 'peering-token', key: 'data', backend: 'kubernetes' },
    });
    expect(acceptor?.status?.secret?.latestHash).toMatch(/^[0-9a-f]{64}$/);
    expect(acceptor?.status?.lastSyncedTime).toBeTruthy();
    expect(await eventReasons(kc, 'cluster-02')).toContain('PeeringTokenGenerated');
    const columns = await kubectlOk(kc, ['get', 'peering-acceptor', 'cluster-02', '--no-headers']);
    expect(columns).toMatch(/^cluster-02\s+True\s+\S+\s+PENDING\s+/);
  });

  it('serves Prometheus metrics: reconciles by kind and result, queue depth', async () => {
    const address = await waitFor(
      () => /"address":"([^"]+)","msg":"serving metrics"/.exec(logs())?.[1] ?? false,
      {
        what: 'the metrics address in the log',
        onTimeout: logs,
      },
    );
    const text = await waitFor(
      async () => {
        const body = await (await fetch(`http://${address}/metrics`)).text();
        return body.includes('meshpeer_controller_reconcile_total{kind="PeeringAcceptor",result="success"}')
          ? body
          : false;
      },
      { what: 'a successful acceptor reconcile in the metrics', onTimeout: logs },
    );
    expect(text).toMatch(/^meshpeer_controller_queue_depth\{kind="ServiceResolver"\} 0$/m);
    expect(text).toMatch(/^meshpeer_controller_queue_depth\{kind="PeeringAcceptor"\} \d+$/m);
    expect(text).toContain('meshpeer_controller_reconcile_duration_seconds_bucket');
    expect(text).toMatch(/^meshpeer_controller_leader 1$/m);
  });

  it('leaves an edited Secret alone but regenerates when the Secret is deleted or the version is raised', async () => {
    const first = tokenIn(await getJson(kc, ['secret', 'peering-token']));
    await kubectlOk(kc, [
      'patch',
      'secret',
      'peering-token',
      '--type=merge',
      '-p',
      JSON.stringify({ data: { data: Buffer.from('edited by hand').toString('base64') } }),
    ]);
    // Several status refreshes (500 ms) later, the hand edit is still there.
    await new Promise((r) => setTimeout(r, 2_000));
    expect(tokenIn(await getJson(kc, ['secret', 'peering-token']))).toBe('edited by hand');
    expect(fake.peerings.get('cluster-02')?.Token).toBe(first);

    await kubectlOk(kc, ['delete', 'secret', 'peering-token']);
    const second = await waitFor(
      async () => {
        const token = tokenIn(await getJson(kc, ['secret', 'peering-token']));
        return token && token !== first ? token : false;
      },
      { what: 'a new token after the Secret was deleted', onTimeout: logs },
    );
    expect(second).toBe(fake.peerings.get('cluster-02')?.Token);

    await kubectlOk(kc, ['apply', '-f', '-'], acceptorYaml('cluster-02', 'peering-token', 1));
    const third = await waitFor(
      async () => {
        const token = tokenIn(await getJson(kc, ['secret', 'peering-token']));
        return token && token !== second ? token : false;
      },
      { what: 'a new token after the version was raised', onTimeout: logs },
    );
    expect(third).toBe(fake.peerings.get('cluster-02')?.Token);
    await waitFor(
      async () => (await getJson(kc, ['peeringacceptor', 'cluster-02']))?.status?.latestPeeringVersion === 1,
      { what: 'latestPeeringVersion 1' },
    );
    const generated = (await eventReasons(kc, 'cluster-02')).filter((r) => r === 'PeeringTokenGenerated');
    expect(generated.length).toBe(3);
  });

  it('moves the token when spec.peer.secret names another Secret, deleting the old one', async () => {
    await kubectlOk(kc, ['apply', '-f', '-'], acceptorYaml('cluster-02', 'moved-token', 1));
    await waitFor(async () => tokenIn(await getJson(kc, ['secret', 'moved-token'])) !== undefined, {
      what: 'the token in Secret moved-token',
      onTimeout: logs,
    });
    await waitFor(async () => (await getJson(kc, ['secret', 'peering-token'])) === undefined, {
      what: 'the old Secret to be deleted',
    });
    expect(tokenIn(await getJson(kc, ['secret', 'moved-token']))).toBe(
      fake.peerings.get('cluster-02')?.Token,
    );
  });

  it('shows ConsulAgentError with the server message while the server refuses, then recovers', async () => {
    fake.failWith = { status: 500, message: 'store is read-only: disk full' };
    try {
      await kubectlOk(kc, ['apply', '-f', '-'], acceptorYaml('cluster-03', 'token-03'));
      const condition = await waitFor(
        async () => {
          const c = synced(await getJson(kc, ['peeringacceptor', 'cluster-03']));
          return c?.status === 'False' ? c : false;
        },
        { what: 'Synced False', onTimeout: logs },
      );
      expect(condition.reason).toBe('ConsulAgentError');
      expect(condition.message).toContain('store is read-only: disk full');
      expect(await eventReasons(kc, 'cluster-03')).toContain('ConsulAgentError');
    } finally {
      fake.failWith = undefined;
    }
    // Backoff is capped at 5 s.
    await waitFor(
      async () => synced(await getJson(kc, ['peeringacceptor', 'cluster-03']))?.status === 'True',
      {
        what: 'recovery after the server answers again',
        timeoutMs: 15_000,
        onTimeout: logs,
      },
    );
  });

  it('reports InvalidSecret for a dialer whose Secret is missing or lacks the key, and establishes once it is right', async () => {
    await kubectlOk(kc, ['apply', '-f', '-'], dialerYaml('cluster-09', 'dial-token'));
    const missing = await waitFor(
      async () => {
        const c = synced(await getJson(kc, ['peeringdialer', 'cluster-09']));
        return c?.status === 'False' ? c : false;
      },
      { what: 'InvalidSecret', onTimeout: logs },
    );
    expect(missing.reason).toBe('InvalidSecret');
    expect(missing.message).toContain('dial-token does not exist');

    await kubectlOk(kc, ['create', 'secret', 'generic', 'dial-token', '--from-literal=other=x']);
    await waitFor(
      async () =>
        synced(await getJson(kc, ['peeringdialer', 'cluster-09']))?.message?.includes('no key "data"'),
      { what: 'InvalidSecret naming the missing key', onTimeout: logs },
    );

    const token = Buffer.from(JSON.stringify({ PeerID: 'abc' })).toString('base64');
    await kubectlOk(kc, [
      'patch',
      'secret',
      'dial-token',
      '--type=merge',
      '-p',
      JSON.stringify({ data: { data: Buffer.from(token).toString('base64') } }),
    ]);
    const dialer = await waitFor(
      async () => {
        const pd = await getJson(kc, ['peeringdialer', 'cluster-09']);
        return synced(pd)?.status === 'True' ? pd : false;
      },
      { what: 'the dialer to establish', onTimeout: logs },
    );
    const secret = await getJson(kc, ['secret', 'dial-token']);
    expect(dialer?.status?.secret?.resourceVersion).toBe(secret?.metadata.resourceVersion);
    expect(dialer?.status?.peeringState).toBe('ACTIVE');
    expect(fake.peerings.get('cluster-09')?.Token).toBe(token);
    expect(await eventReasons(kc, 'cluster-09')).toContain('PeeringEstablished');
  });

  it('establishes again when the peering disappears from the server', async () => {
    const before = fake.requests.filter((r) => r === 'POST /v1/peering/establish').length;
    fake.peerings.delete('cluster-09');
    await waitFor(() => fake.peerings.get('cluster-09')?.State === 'ACTIVE', {
      what: 're-establish',
      onTimeout: logs,
    });
    expect(fake.requests.filter((r) => r === 'POST /v1/peering/establish').length).toBe(before + 1);
  });

  it('deletes the peering (and the acceptor Secret) through the finalizer', async () => {
    await kubectlOk(kc, ['delete', 'peeringdialer', 'cluster-09', '--timeout=30s']);
    expect(fake.peerings.has('cluster-09')).toBe(false);
    await kubectlOk(kc, ['delete', 'peeringacceptor', 'cluster-02', '--timeout=30s']);
    expect(fake.peerings.has('cluster-02')).toBe(false);
    expect(await getJson(kc, ['secret', 'moved-token'])).toBeUndefined();
  });

  it('writes config entries marked external-source: kubernetes and deletes them with the resource', async () => {
    await kubectlOk(
      kc,
      ['apply', '-f', '-'],
      `apiVersion: consul.hashicorp.com/v1alpha1
kind: Mesh
metadata:
  name: mesh
spec:
  peering:
    peerThroughMeshGateways: true
---
apiVersion: consul.hashicorp.com/v1alpha1
kind: ServiceIntentions
metadata:
  name: backend-intentions
spec:
  destination:
    name: backend
  sources:
    - name: frontend
      peer: cluster-01
      action: allow
`,
    );
    await waitFor(async () => synced(await getJson(kc, ['mesh', 'mesh']))?.status === 'True', {
      what: 'Mesh Synced',
      onTimeout: logs,
    });
    expect(fake.entries.get('mesh/mesh')).toMatchObject({
      Kind: 'mesh',
      Name: 'mesh',
      Meta: { 'external-source': 'kubernetes' },
      Peering: { PeerThroughMeshGateways: true },
    });
    await waitFor(() => fake.entries.has('service-intentions/backend'), {
      what: 'intentions named after the destination',
    });
    expect(fake.entries.get('service-intentions/backend')).toMatchObject({
      Sources: [{ Name: 'frontend', Peer: 'cluster-01', Action: 'allow' }],
    });

    const writes = fake.requests.filter((r) => r === 'PUT /v1/config').length;
    await new Promise((r) => setTimeout(r, 2_500)); // one resync period: nothing changed, nothing written
    expect(fake.requests.filter((r) => r === 'PUT /v1/config').length).toBe(writes);

    await kubectlOk(kc, ['delete', 'mesh', 'mesh', '--timeout=30s']);
    expect(fake.entries.has('mesh/mesh')).toBe(false);
  });

  it('refuses to overwrite an entry made outside Kubernetes unless asked to migrate it', async () => {
    fake.entries.set('proxy-defaults/global', {
      Kind: 'proxy-defaults',
      Name: 'global',
      Config: { protocol: 'tcp' },
      CreateIndex: 1,
      ModifyIndex: 1,
    });
    const doc = (migrate: boolean): string => `apiVersion: consul.hashicorp.com/v1alpha1
kind: ProxyDefaults
metadata:
  name: global
${migrate ? '  annotations:\n    consul.hashicorp.com/migrate-entry: "true"\n' : ''}spec:
  meshGateway:
    mode: local
  config:
    protocol: http
`;
    await kubectlOk(kc, ['apply', '-f', '-'], doc(false));
    const refused = await waitFor(
      async () => {
        const c = synced(await getJson(kc, ['proxydefaults', 'global']));
        return c?.status === 'False' ? c : false;
      },
      { what: 'EntryExists', onTimeout: logs },
    );
    expect(refused.reason).toBe('EntryExists');
    expect(refused.message).toContain('consul.hashicorp.com/migrate-entry');
    expect(fake.entries.get('proxy-defaults/global')?.Config).toEqual({ protocol: 'tcp' });

    await kubectlOk(kc, ['apply', '-f', '-'], doc(true));
    await waitFor(async () => synced(await getJson(kc, ['proxydefaults', 'global']))?.status === 'True', {
      what: 'the migrated entry to be Synced',
      timeoutMs: 15_000,
      onTimeout: logs,
    });
    expect(fake.entries.get('proxy-defaults/global')).toMatchObject({
      Config: { protocol: 'http' },
      MeshGateway: { Mode: 'local' },
      Meta: { 'external-source': 'kubernetes' },
    });
  });

  it('reports ValidationError, without retrying, for a spec that makes no valid entry', async () => {
    await kubectlOk(
      kc,
      ['apply', '-f', '-'],
      `apiVersion: consul.hashicorp.com/v1alpha1
kind: ServiceResolver
metadata:
  name: web
spec:
  connectTimeout: "soon"
`,
    );
    const condition = await waitFor(
      async () => {
        const c = synced(await getJson(kc, ['serviceresolver', 'web']));
        return c?.status === 'False' ? c : false;
      },
      { what: 'ValidationError', onTimeout: logs },
    );
    expect(condition.reason).toBe('ValidationError');
    expect(condition.message).toMatch(/ConnectTimeout/);
    expect(fake.entries.has('service-resolver/web')).toBe(false);
  });

  it('with --leader-elect, only the Lease holder reconciles; a stopped leader hands over at once, a killed one after the lease', async () => {
    await kubectlOk(kc, ['create', 'namespace', 'ha']);
    const replica = (): Promise<Proc> =>
      startController([
        '--kubeconfig',
        kc,
        '--server',
        fake.address,
        '--namespace',
        'ha',
        '--leader-elect',
        '--leader-elect-lease-duration',
        '3s',
        '--leader-elect-renew-deadline',
        '2s',
        '--leader-elect-retry-period',
        '500ms',
        '--status-interval',
        '500ms',
      ]);
    const first = await replica();
    extra.push(first);
    const lease = await waitFor(
      async () => {
        const l = await getJson(kc, ['lease', '-n', 'ha', 'meshpeer-controller-lock']);
        return l?.spec?.holderIdentity ? l : false;
      },
      { what: 'the first replica to take the lease', onTimeout: first.output },
    );
    expect(String(lease.spec?.holderIdentity)).toMatch(new RegExp(`_${first.pid}$`));
    const second = await replica();
    extra.push(second);

    await kubectlOk(kc, ['apply', '-n', 'ha', '-f', '-'], acceptorYaml('cluster-ha', 'ha-token'));
    await waitFor(
      async () => synced(await getJson(kc, ['-n', 'ha', 'peeringacceptor', 'cluster-ha']))?.status === 'True',
      {
        what: 'the leader to reconcile',
        onTimeout: first.output,
      },
    );
    expect(second.output()).not.toContain('became the leader');

    expect(await first.stop('SIGTERM')).toBe(0);
    expect(first.output()).toContain('released the lease');
    // Released, not left to expire: the Lease no longer names the first replica, so the standby may take
    // it on its next retry instead of waiting out the 3 s lease (how soon depends on the machine).
    const released = await getJson(kc, ['lease', '-n', 'ha', 'meshpeer-controller-lock']);
    expect(String(released?.spec?.holderIdentity ?? '')).not.toMatch(new RegExp(`_${first.pid}$`));
    await waitFor(
      async () =>
        String(
          (await getJson(kc, ['lease', '-n', 'ha', 'meshpeer-controller-lock']))?.spec?.holderIdentity,
        ).endsWith(`_${second.pid}`),
      { what: 'the second replica to take over', onTimeout: second.output },
    );

    await kubectlOk(kc, ['delete', 'secret', '-n', 'ha', 'ha-token']);
    await waitFor(async () => (await getJson(kc, ['secret', '-n', 'ha', 'ha-token'])) !== undefined, {
      what: 'the new leader to regenerate the Secret',
      onTimeout: second.output,
    });

    // A leader that dies without releasing: the standby waits out the 3 s lease, then takes over.
    const third = await replica();
    extra.push(third);
    await waitFor(() => third.output().includes('"msg":"starting controller"'), {
      what: 'the third replica to start',
    });
    await second.stop('SIGKILL');
    const killed = Date.now();
    await waitFor(
      async () =>
        String(
          (await getJson(kc, ['lease', '-n', 'ha', 'meshpeer-controller-lock']))?.spec?.holderIdentity,
        ).endsWith(`_${third.pid}`),
      { what: 'the third replica to take over', timeoutMs: 15_000, onTimeout: third.output },
    );
    expect(Date.now() - killed).toBeGreaterThanOrEqual(1_500);
  });

  it('stops cleanly on SIGTERM', async () => {
    expect(await controller?.stop('SIGTERM')).toBe(0);
    expect(logs()).toContain('controller stopped');
  });
});
