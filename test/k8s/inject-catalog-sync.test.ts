// Workloads join the mesh on a real cluster control plane (kube-apiserver, controller-manager,
// scheduler and kwok's fake nodes from scripts/k8s-up.sh --workloads) with a real meshpeer server:
// the controller's mutating webhook injects the `meshpeer proxy` sidecar into annotated pods (and
// refuses nonsense annotations, warns about transparent proxy), and its endpoints controller registers
// every ready injected pod a Service selects, with its sidecar proxy, following scale-up, pod deletion
// and its own restart (orphans removed). Restarted with --inject-sidecar-engine haproxy (or nginx), it
// injects sidecars that run on HAProxy (or nginx).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, type Proc, startController } from '../controller/support/processes.js';
import { kubectl, kubectlOk } from '../support/kube-apiserver.js';
import { api, CLI, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';
import {
  injectorWebhookConfig,
  startWorkloadCluster,
  type WorkloadCluster,
  webhookCertificate,
} from './workloads-cluster.js';

const suffix = randomBytes(3).toString('hex');
const ns = `apps-${suffix}`;
const IMAGE = 'meshpeer/meshpeer:test';
let cluster: WorkloadCluster | undefined;
let server: ServerProcess | undefined;
let controller: Proc | undefined;
let certs: ReturnType<typeof webhookCertificate> | undefined;
let webhookPort = 0;
/** The upstream's local port in the backend pods (free here, since the sidecar is run on this host). */
let upstreamPort = 0;
let kc = '';

function controllerArgs(): string[] {
  if (!certs || !server) throw new Error('not set up');
  return [
    '--kubeconfig',
    kc,
    '--server',
    server.url,
    '--resync-period',
    '5s',
    '--webhook-addr',
    `127.0.0.1:${webhookPort}`,
    '--webhook-tls-cert',
    certs.cert,
    '--webhook-tls-key',
    certs.key,
    '--inject',
    '--inject-image',
    IMAGE,
    '--inject-server',
    'http://meshpeer-server.consul.svc:8500',
    '--sidecar-memory-limit',
    '128Mi',
  ];
}

async function startInjectingController(extra: string[] = []): Promise<Proc> {
  const proc = await startController([...controllerArgs(), ...extra]);
  const deadline = Date.now() + 60_000;
  while (!/serving the sidecar injector/.test(proc.output())) {
    if (Date.now() > deadline) throw new Error(`controller did not serve its webhook:\n${proc.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return proc;
}

async function until<T>(
  read: () => Promise<T>,
  ok: (v: T) => boolean,
  what: string,
  ms = 90_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last = await read();
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(last)} after ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
    last = await read();
  }
  return last;
}

interface CatalogRow {
  Node: string;
  ServiceID: string;
  ServiceAddress: string;
  ServicePort: number;
  ServiceKind?: string;
  ServiceMeta: Record<string, string>;
}

async function catalog(service: string): Promise<CatalogRow[]> {
  const r = await api<CatalogRow[]>(`${server?.url}/v1/catalog/service/${service}`);
  if (r.status !== 200) throw new Error(`GET /v1/catalog/service/${service}: ${r.status} ${r.text}`);
  return r.body;
}

interface KubePod {
  metadata: {
    name: string;
    deletionTimestamp?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
  };
  spec: { nodeName?: string; containers: { name: string }[] };
  status?: { podIP?: string; conditions?: { type: string; status: string }[] };
}

async function podsJson(): Promise<KubePod[]> {
  const out = await kubectlOk(kc, ['-n', ns, 'get', 'pods', '-l', 'app=backend', '-o', 'json']);
  return (JSON.parse(out) as { items: KubePod[] }).items;
}

interface PodInfo {
  name: string;
  ip: string;
  node: string;
  ready: boolean;
}

async function backendPods(): Promise<PodInfo[]> {
  return (await podsJson())
    .filter((p) => !p.metadata.deletionTimestamp)
    .map((p) => ({
      name: p.metadata.name,
      ip: p.status?.podIP ?? '',
      node: p.spec.nodeName ?? '',
      ready: (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    }));
}

/** The catalog's backend instances as "pod-id@ip@node", sorted; and what the pods say they should be. */
async function registeredAndExpected(): Promise<{ registered: string[]; expected: string[] }> {
  const rows = await catalog('backend');
  const pods = (await backendPods()).filter((p) => p.ready && p.ip);
  return {
    registered: rows.map((r) => `${r.ServiceID}@${r.ServiceAddress}@${r.Node}`).sort(),
    expected: pods.map((p) => `${p.name}-backend@${p.ip}@${p.node}`).sort(),
  };
}

async function converged(count: number): Promise<string[]> {
  const r = await until(
    registeredAndExpected,
    (v) => v.expected.length === count && v.registered.join() === v.expected.join(),
    `catalog holds the ${count} ready backend pods`,
  );
  return r.registered;
}

const deployment = (replicas: number) => `apiVersion: apps/v1
kind: Deployment
metadata: { name: backend, namespace: ${ns} }
spec:
  replicas: ${replicas}
  selector: { matchLabels: { app: backend } }
  template:
    metadata:
      labels: { app: backend }
      annotations:
        consul.hashicorp.com/connect-inject: "true"
        consul.hashicorp.com/connect-service-upstreams: "db.svc.cluster-01.peer:${upstreamPort}"
    spec:
      containers:
        - name: backend
          image: example/backend:1
          ports: [{ name: http, containerPort: 8080 }]
---
apiVersion: v1
kind: Service
metadata: { name: backend, namespace: ${ns} }
spec:
  selector: { app: backend }
  ports: [{ port: 80, targetPort: 8080 }]
`;

function pod(name: string, annotations: Record<string, string>): string {
  const lines = Object.entries(annotations)
    .map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`)
    .join('\n');
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: ${ns}
  annotations:
${lines}
spec:
  containers:
    - name: web
      image: example/web:1
      ports: [{ containerPort: 9090 }]
`;
}

beforeAll(async () => {
  [cluster, server] = await Promise.all([
    startWorkloadCluster('inject', 2),
    startServerProcess({ datacenter: 'inject' }),
  ]);
  kc = cluster.kubeconfigPath;
  certs = webhookCertificate();
  webhookPort = await freePort();
  upstreamPort = await freePort();
  controller = await startInjectingController();
  await kubectlOk(
    kc,
    ['apply', '-f', '-'],
    injectorWebhookConfig(`meshpeer-inject-${suffix}`, webhookPort, readFileSync(certs.cert, 'utf8')),
  );
  await kubectlOk(kc, ['create', 'namespace', ns]);
  // The namespace's default ServiceAccount comes from the controller-manager; pods need it.
  await until(
    async () => (await kubectl(kc, ['-n', ns, 'get', 'serviceaccount', 'default'])).code,
    (c) => c === 0,
    'default ServiceAccount',
  );
}, 45 * 60_000);

afterAll(async () => {
  await controller?.stop();
  await server?.stop();
  await cluster?.stop();
  certs?.remove();
});

describe('sidecar injection', () => {
  it('refuses a pod whose annotations make no sense, saying why', async () => {
    const r = await kubectl(
      kc,
      ['apply', '-f', '-'],
      pod('bad', { 'consul.hashicorp.com/connect-inject': 'yes' }),
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('consul.hashicorp.com/connect-inject must be "true" or "false", got "yes"');
    const upstreams = await kubectl(
      kc,
      ['apply', '-f', '-'],
      pod('bad2', {
        'consul.hashicorp.com/connect-inject': 'true',
        'consul.hashicorp.com/connect-service-upstreams': 'backend:1234:dc2',
      }),
    );
    expect(upstreams.code).not.toBe(0);
    expect(upstreams.stderr).toContain('WAN federation');
    expect((await kubectl(kc, ['-n', ns, 'get', 'pod', 'bad'])).code).not.toBe(0);
  });

  it('leaves a pod without the annotation alone (connectInject.default is off)', async () => {
    await kubectlOk(kc, ['apply', '-f', '-'], pod('plain', { 'example.com/x': 'y' }));
    const names = await kubectlOk(kc, [
      '-n',
      ns,
      'get',
      'pod',
      'plain',
      '-o',
      'jsonpath={.spec.containers[*].name}',
    ]);
    expect(names).toBe('web');
  });

  it('injects a pod asking for transparent proxy, with a warning to use explicit upstreams', async () => {
    const r = await kubectl(
      kc,
      ['apply', '-f', '-'],
      pod('tproxy', {
        'consul.hashicorp.com/connect-inject': 'true',
        'consul.hashicorp.com/transparent-proxy': 'true',
      }),
    );
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/Warning: .*transparent proxy .* not supported.*connect-service-upstreams/);
    const names = await kubectlOk(kc, [
      '-n',
      ns,
      'get',
      'pod',
      'tproxy',
      '-o',
      'jsonpath={.spec.containers[*].name}',
    ]);
    expect(names).toBe('web meshpeer-proxy');
  });

  it("injects the Deployment's pods once each: container, args, probe, resources, status annotation", async () => {
    await kubectlOk(kc, ['apply', '-f', '-'], deployment(2));
    await until(backendPods, (p) => p.length === 2, 'two backend pods');
    for (const p of await podsJson()) {
      expect(p.metadata.annotations?.['consul.hashicorp.com/connect-inject-status']).toBe('injected');
      expect(p.metadata.labels?.['consul.hashicorp.com/connect-inject-status']).toBe('injected');
      const sidecars = p.spec.containers.filter((c) => c.name === 'meshpeer-proxy');
      expect(sidecars).toHaveLength(1);
      expect(sidecars[0]).toMatchObject({
        image: IMAGE,
        command: ['meshpeer', 'proxy'],
        args: [
          '--service',
          'backend',
          '--listen',
          '0.0.0.0:20000',
          '--app-port',
          '8080',
          '--upstream',
          `db:peer=cluster-01:${upstreamPort}`,
        ],
        env: [{ name: 'MESHPEER_HTTP_ADDR', value: 'http://meshpeer-server.consul.svc:8500' }],
        readinessProbe: { tcpSocket: { port: 20000 } },
        resources: { limits: { memory: '128Mi' } },
      });
    }
  });
});

/** Runs a command line as a local process until `done` matches its output; resolves with the output. */
function runUntil(args: string[], env: NodeJS.ProcessEnv, done: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let stopping = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no ${done} within 30 s:\n${out}`));
    }, 30_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      // One SIGTERM: a second one kills the process outright, leaving an HAProxy or nginx child behind.
      if (!stopping && done.test(out)) {
        stopping = true;
        clearTimeout(timer);
        // 'close': its output read to the end, the shutdown lines included.
        child.once('close', () => resolve(out));
        child.kill('SIGTERM');
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (!done.test(out)) reject(new Error(`exited ${code} before ${done}:\n${out}`));
    });
  });
}

describe('the injected sidecar', () => {
  it("runs: the command line from a mutated pod spec starts `meshpeer proxy` with the pod's upstream", async () => {
    const [p] = await podsJson();
    const sidecar = p?.spec.containers.find((c) => c.name === 'meshpeer-proxy') as
      | { command: string[]; args: string[] }
      | undefined;
    if (!sidecar) throw new Error('no injected pod');
    expect(sidecar.command).toEqual(['meshpeer', 'proxy']);
    // The pod's address becomes loopback, and its server address this test's server.
    const args = sidecar.args.map((a) => (a === '0.0.0.0:20000' ? '127.0.0.1:0' : a));
    const out = await runUntil(
      [CLI, 'proxy', ...args],
      { MESHPEER_HTTP_ADDR: server?.url ?? '' },
      new RegExp(`upstream db \\(peer cluster-01\\) on 127\\.0\\.0\\.1:${upstreamPort}`),
    );
    expect(out).toMatch(/sidecar for backend: inbound mTLS on 127\.0\.0\.1:\d+/);
  });
});

describe('catalog sync', () => {
  it('registers each ready backend pod (pod IP, its node, metadata) and its sidecar proxy', async () => {
    const registered = await converged(2);
    expect(registered).toHaveLength(2);
    const rows = await catalog('backend');
    for (const row of rows) {
      expect(row.ServicePort).toBe(8080);
      expect(row.Node).toMatch(/^kwok-node-\d$/);
      expect(row.ServiceMeta).toMatchObject({
        'k8s-namespace': ns,
        'k8s-service-name': 'backend',
        'managed-by': 'meshpeer-endpoints-controller',
      });
    }
    const proxies = await catalog('backend-sidecar-proxy');
    expect(proxies.map((p) => p.ServiceID).sort()).toEqual(
      rows.map((r) => `${r.ServiceID}-sidecar-proxy`).sort(),
    );
    expect(proxies.every((p) => p.ServiceKind === 'connect-proxy' && p.ServicePort === 20000)).toBe(true);
    const health = await api<{ Checks: { Status: string }[] }[]>(
      `${server?.url}/v1/health/service/backend?passing=true`,
    );
    expect(health.body).toHaveLength(2);
    // The pod without a Service selecting it, injected above, is in no catalog entry.
    expect(await catalog('web')).toEqual([]);
  });

  it('scaling to 3 adds the third pod', async () => {
    await kubectlOk(kc, ['-n', ns, 'scale', 'deployment/backend', '--replicas=3']);
    expect(await converged(3)).toHaveLength(3);
  });

  it("a pod's readiness drives its instances' health", async () => {
    const [pod] = await backendPods();
    if (!pod) throw new Error('no backend pod');
    const passing = async () =>
      (await api<{ Service: { ID: string } }[]>(`${server?.url}/v1/health/service/backend?passing=true`)).body
        .map((e) => e.Service.ID)
        .sort();
    expect(await passing()).toContain(`${pod.name}-backend`);
    const setReady = (status: 'True' | 'False') =>
      kubectlOk(kc, [
        '-n',
        ns,
        'patch',
        'pod',
        pod.name,
        '--subresource=status',
        '-p',
        JSON.stringify({ status: { conditions: [{ type: 'Ready', status }] } }),
      ]);
    await setReady('False');
    await until(
      passing,
      (ids) => ids.length === 2 && !ids.includes(`${pod.name}-backend`),
      'unready pod not passing',
    );
    // The controller registers a pod's service and its sidecar proxy one after the other: the proxy's
    // turn may come just after.
    const proxies = async () =>
      (
        await api<{ Service: { ID: string } }[]>(
          `${server?.url}/v1/health/service/backend-sidecar-proxy?passing=true`,
        )
      ).body.map((e) => e.Service.ID);
    await until(
      proxies,
      (ids) => !ids.includes(`${pod.name}-backend-sidecar-proxy`),
      'unready pod sidecar proxy not passing',
    );
    await setReady('True');
    await until(passing, (ids) => ids.length === 3, 'ready again');
  });

  it('a deleted pod leaves the catalog (its replacement joins)', async () => {
    const [victim] = await backendPods();
    if (!victim) throw new Error('no backend pod');
    await kubectlOk(kc, ['-n', ns, 'delete', 'pod', victim.name, '--wait=true']);
    const registered = await converged(3);
    expect(registered.some((r) => r.startsWith(`${victim.name}-backend@`))).toBe(false);
    const proxies = await catalog('backend-sidecar-proxy');
    expect(proxies.some((p) => p.ServiceID.startsWith(`${victim.name}-`))).toBe(false);
  });

  it('a restarted controller removes the instances of pods deleted while it was down', async () => {
    await controller?.stop();
    await kubectlOk(kc, ['-n', ns, 'scale', 'deployment/backend', '--replicas=1']);
    await until(backendPods, (p) => p.length === 1, 'one backend pod');
    // Nobody synced: the catalog still names three.
    expect(await catalog('backend')).toHaveLength(3);
    controller = await startInjectingController();
    expect(await converged(1)).toHaveLength(1);
    expect(await catalog('backend-sidecar-proxy')).toHaveLength(1);
  });

  it('deleting the Service removes its instances', async () => {
    await kubectlOk(kc, ['-n', ns, 'delete', 'service', 'backend']);
    await until(
      () => catalog('backend'),
      (rows) => rows.length === 0,
      'backend gone from the catalog',
    );
    expect(await catalog('backend-sidecar-proxy')).toEqual([]);
  });
});

describe('the sidecar engine', () => {
  it.each(['haproxy', 'nginx'])(
    'with --inject-sidecar-engine %s, injects sidecars that run `meshpeer proxy --engine` with it, and they start',
    async (engine) => {
      await controller?.stop();
      controller = await startInjectingController(['--inject-sidecar-engine', engine]);
      await kubectlOk(
        kc,
        ['apply', '-f', '-'],
        pod(`on-${engine}`, { 'consul.hashicorp.com/connect-inject': 'true' }),
      );
      const out = await kubectlOk(kc, ['-n', ns, 'get', 'pod', `on-${engine}`, '-o', 'json']);
      const sidecar = (
        JSON.parse(out) as { spec: { containers: { name: string; args?: string[] }[] } }
      ).spec.containers.find((c) => c.name === 'meshpeer-proxy');
      expect(sidecar?.args).toEqual([
        '--service',
        'web',
        '--listen',
        '0.0.0.0:20000',
        '--app-port',
        '9090',
        '--engine',
        engine,
      ]);
      // That command line starts the sidecar on the engine (scripts/haproxy.sh installs HAProxy and nginx
      // for the tests).
      const args = (sidecar?.args ?? []).map((a) => (a === '0.0.0.0:20000' ? '127.0.0.1:0' : a));
      const log = await runUntil(
        [CLI, 'proxy', ...args],
        { MESHPEER_HTTP_ADDR: server?.url ?? '' },
        new RegExp(`sidecar \\(${engine}\\) listening`),
      );
      expect(log).toMatch(/"service":"web"/);
      // SIGTERM stopped the engine with it.
      expect(log).toMatch(new RegExp(`sidecar \\(${engine}\\) stopped`));
    },
  );
});
