// The seed's cluster-peering story with pods, on two real cluster control planes (kube-apiserver,
// controller-manager, scheduler, kwok's fake nodes): per cluster the meshpeer server, controller (with
// the sidecar injector) and mesh gateway run as local processes from the command lines `helm template`
// renders with the seed's values and the injector on. The seed's PeeringAcceptor/Secret/PeeringDialer
// peer the clusters through their gateways; a backend Deployment in cluster-01 and a frontend with the
// peered upstream in cluster-02 are injected; backend's pods are in both catalogs as they scale and
// die; the sidecars taken from the mutated pod specs carry frontend's localhost:1234 through both
// gateways to backend, until the intention allowing it is deleted.
//
// Not applied from the rendering: the server/controller/gateway workloads (kwok pods run nothing, so
// the processes stand in for them), and the webhook configurations' Service reference (kwok pod IPs
// serve nothing: the MutatingWebhookConfiguration is applied as rendered with the controller's
// loopback URL in its clientConfig).
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { Endpoint } from '../../src/dataplane/endpoint.js';
import { type EchoServer, echoOnce, startNamedEchoServer } from '../../src/dataplane/testing/traffic.js';
import { freePort, getJson, type KubeObject, synced, waitFor } from '../controller/support/processes.js';
import { seedAcceptor, seedDialer, seedMesh } from '../fixtures/seed.js';
import { find, type K8sObject, merge, render, seedValues, useHelm } from '../helm/support.js';
import { metricValue } from '../server/support.js';
import { kubectl, kubectlOk, repoRoot } from '../support/kube-apiserver.js';
import {
  localCommand,
  type MeshpeerProcess,
  Mounts,
  renderedContainer,
  startMeshpeer,
} from './seed-story.js';
import { startWorkloadCluster, type WorkloadCluster, webhookCertificate } from './workloads-cluster.js';

useHelm();

const LONG = 180_000;
const crdDir = path.join(repoRoot, 'deploy', 'crds');

interface Installed {
  dc: string;
  cluster: WorkloadCluster;
  kc: string;
  objects: K8sObject[];
  mounts: Mounts;
  ca: string;
  url: string;
  grpc: string;
  gatewayPort: number;
  server: MeshpeerProcess;
  gateway: MeshpeerProcess;
  gatewayMetrics: number;
  controller: MeshpeerProcess;
}

const installed: Installed[] = [];
const extra: { stop(): Promise<void> }[] = [];
let certs: ReturnType<typeof webhookCertificate> | undefined;
let upstreamPort = 1234;
let echo: EchoServer | undefined;

/** An HTTPS request to a server that trusts only the chart's CA (as the controller does). */
function call<T>(site: Installed, route: string): Promise<{ status: number; body: T }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${site.url}${route}`,
      { ca: readFileSync(site.ca), timeout: 20_000 },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          text += d;
        });
        res.on('end', () => {
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // plain-text error body
          }
          resolve({ status: res.statusCode ?? 0, body: body as T });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${route}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

const logs = (): string =>
  installed
    .map(
      (s) =>
        `--- ${s.dc} controller\n${s.controller.output().slice(-2500)}\n--- ${s.dc} gateway\n${s.gateway.output().slice(-1500)}`,
    )
    .join('\n');

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/** Renders the chart for `dc` and starts its server, gateway and controller against `cluster`. */
async function install(dc: string, cluster: WorkloadCluster): Promise<Installed> {
  if (!certs) throw new Error('no webhook certificate');
  const kc = cluster.kubeconfigPath;
  const gatewayPort = await freePort();
  const values = merge(seedValues, {
    global: { datacenter: dc },
    connectInject: { injector: { enabled: true } },
    meshGateway: { containerPort: gatewayPort, service: { port: gatewayPort } },
  });
  const objects = render(values);
  const mounts = new Mounts(objects);
  const ca = mounts.secretFile('consul-ca-cert', 'tls.crt');

  // The server, as its StatefulSet runs it: HTTPS with the chart's certificate, data in its volume.
  const serverContainer = renderedContainer(objects, 'StatefulSet', 'consul-server');
  const serverArgs = localCommand(serverContainer, {
    '0.0.0.0:8501': '127.0.0.1:0',
    '0.0.0.0:8502': '127.0.0.1:0',
    '/meshpeer/tls/server/tls.crt': mounts.secretFile('consul-server-cert', 'tls.crt'),
    '/meshpeer/tls/server/tls.key': mounts.secretFile('consul-server-cert', 'tls.key'),
    '/data/server': path.join(mounts.dir, 'data', 'server'),
  });
  expect(serverArgs).toContain('--http-tls-cert');
  expect(serverArgs[serverArgs.indexOf('--datacenter') + 1]).toBe(dc);
  const server = startMeshpeer(serverArgs, {});
  const ready = await server.waitFor(/\{[^\n]*"msg":"server ready"[^\n]*\}/);
  const addrs = JSON.parse(ready[0]) as { httpAddress: string; grpcAddress: string };
  const url = `https://${addrs.httpAddress}`;
  const caEnv = { NODE_EXTRA_CA_CERTS: ca };

  await kubectlOk(kc, ['apply', '-f', crdDir]);
  await kubectlOk(kc, ['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
  await kubectlOk(kc, ['create', 'namespace', 'mesh']);

  // The gateway's Service as rendered; no cloud here, so the test plays the load balancer's controller.
  const service = find(objects, 'Service', 'consul-mesh-gateway');
  await kubectlOk(kc, ['apply', '-f', '-'], JSON.stringify(service));
  await kubectlOk(kc, [
    '-n',
    'mesh',
    'patch',
    'service',
    'consul-mesh-gateway',
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({ status: { loadBalancer: { ingress: [{ ip: '127.0.0.1' }] } } }),
  ]);
  const gatewayContainer = renderedContainer(objects, 'Deployment', 'consul-mesh-gateway');
  expect(gatewayContainer.env?.find((e) => e.name === 'NODE_EXTRA_CA_CERTS')?.value).toBe(
    '/meshpeer/tls/ca/tls.crt',
  );
  const gatewayMetrics = await freePort();
  const gatewayArgs = localCommand(
    gatewayContainer,
    {
      'https://consul-server:8501': url,
      [`0.0.0.0:${gatewayPort}`]: `127.0.0.1:${gatewayPort}`,
      'consul-server:8502': addrs.grpcAddress,
    },
    { POD_NAME: `consul-mesh-gateway-${dc}`, POD_IP: '127.0.0.1' },
  );
  expect(gatewayArgs).toContain('--advertise-service');
  const gateway = startMeshpeer(
    [...gatewayArgs, '--metrics', `127.0.0.1:${gatewayMetrics}`, '--drain-seconds', '0'],
    { ...caEnv, KUBECONFIG: kc },
  );
  await gateway.waitFor(/mesh gateway listening on/);

  // The controller with its injector; the webhook serves on loopback with a certificate for 127.0.0.1.
  const webhookPort = await freePort();
  const controllerContainer = renderedContainer(objects, 'Deployment', 'consul-controller');
  const controllerArgs = localCommand(controllerContainer, {
    'https://consul-server:8501': url,
    '0.0.0.0:9443': `127.0.0.1:${webhookPort}`,
    '/meshpeer/webhook/tls.crt': certs.cert,
    '/meshpeer/webhook/tls.key': certs.key,
    '/meshpeer/tls/ca/tls.crt': ca,
  });
  expect(controllerArgs).toContain('--inject');
  const controller = startMeshpeer([...controllerArgs, '--kubeconfig', kc], {
    ...caEnv,
    POD_NAMESPACE: 'mesh',
    POD_NAME: `consul-controller-${dc}`,
  });
  await controller.waitFor(/serving the sidecar injector/);
  const webhook = structuredClone(
    find(objects, 'MutatingWebhookConfiguration', 'consul-controller-webhook-mesh'),
  );
  const hooks = (webhook as unknown as { webhooks: { clientConfig: Record<string, unknown> }[] }).webhooks;
  for (const hook of hooks) {
    hook.clientConfig = {
      url: `https://127.0.0.1:${webhookPort}/mutate`,
      caBundle: Buffer.from(readFileSync(certs.cert, 'utf8')).toString('base64'),
    };
  }
  await kubectlOk(kc, ['apply', '-f', '-'], JSON.stringify(webhook));
  // Pods need the namespace's default ServiceAccount, which the controller-manager creates.
  await waitFor(async () => (await kubectl(kc, ['get', 'serviceaccount', 'default'])).code === 0, {
    what: 'the default ServiceAccount',
    timeoutMs: 90_000,
  });
  return {
    dc,
    cluster,
    kc,
    objects,
    mounts,
    ca,
    url,
    grpc: addrs.grpcAddress,
    gatewayPort,
    server,
    gateway,
    gatewayMetrics,
    controller,
  };
}

const site = (dc: string): Installed => {
  const s = installed.find((i) => i.dc === dc);
  if (!s) throw new Error(`${dc} is not installed`);
  return s;
};

beforeAll(async () => {
  certs = webhookCertificate();
  if (!(await portIsFree(1234))) upstreamPort = await freePort();
  const [k1, k2] = await Promise.all([
    startWorkloadCluster('seed-01', 2, '127.1.0.0/16'),
    startWorkloadCluster('seed-02', 2, '127.2.0.0/16'),
  ]);
  try {
    installed.push(await install('cluster-01', k1));
    installed.push(await install('cluster-02', k2));
  } catch (err) {
    await Promise.all([k1.stop(), k2.stop()]);
    throw err;
  }
}, 45 * 60_000);

afterAll(async () => {
  for (const p of extra.reverse()) await p.stop();
  await echo?.close();
  for (const s of installed) {
    await s.controller.stop();
    await s.gateway.stop();
    await s.server.stop();
  }
  await Promise.all(installed.map((s) => s.cluster.stop()));
  for (const s of installed) s.mounts.remove();
  certs?.remove();
}, 180_000);

/** `kubectl get secret -o yaml | kubectl apply` into the other cluster, server-set metadata removed. */
async function copySecret(from: string, to: string, name: string): Promise<void> {
  const doc = parse(await kubectlOk(from, ['get', 'secret', name, '-o', 'yaml'])) as KubeObject;
  for (const field of ['uid', 'resourceVersion', 'creationTimestamp', 'managedFields', 'namespace']) {
    delete doc.metadata[field];
  }
  delete doc.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration'];
  await kubectlOk(to, ['apply', '-f', '-'], stringify(doc));
}

async function peeringState(s: Installed, peer: string): Promise<string | undefined> {
  const r = await call<{ State: string }>(s, `/v1/peering/${peer}`);
  return r.status === 200 ? r.body.State : undefined;
}

describe("the seed's peering, installed from the chart", () => {
  it(
    'gateways registered on both sides, the Mesh on both, acceptor → Secret → dialer: both ACTIVE',
    async () => {
      const [c1, c2] = [site('cluster-01'), site('cluster-02')];
      for (const s of [c1, c2]) {
        const gw = await waitFor(
          async () => {
            const r = await call<
              { ServiceKind: string; ServiceTaggedAddresses?: { wan?: { Address: string; Port: number } } }[]
            >(s, '/v1/catalog/service/mesh-gateway');
            return r.status === 200 && r.body.length === 1 ? r.body[0] : false;
          },
          { what: `${s.dc}'s gateway registered`, timeoutMs: LONG, onTimeout: logs },
        );
        expect(gw?.ServiceKind).toBe('mesh-gateway');
        // Its WAN address is the Service's load-balancer ingress with the Service's port.
        expect(gw?.ServiceTaggedAddresses?.wan).toEqual({ Address: '127.0.0.1', Port: s.gatewayPort });
        await kubectlOk(s.kc, ['apply', '-f', '-'], seedMesh);
        await waitFor(async () => synced(await getJson(s.kc, ['mesh', 'mesh']))?.status === 'True', {
          what: `${s.dc}'s Mesh Synced`,
          timeoutMs: LONG,
          onTimeout: logs,
        });
      }
      await kubectlOk(c1.kc, ['apply', '-f', '-'], seedAcceptor);
      await waitFor(async () => (await getJson(c1.kc, ['secret', 'peering-token'])) ?? false, {
        what: 'the token Secret on cluster-01',
        timeoutMs: LONG,
        onTimeout: logs,
      });
      await copySecret(c1.kc, c2.kc, 'peering-token');
      await kubectlOk(c2.kc, ['apply', '-f', '-'], seedDialer);
      await waitFor(async () => (await peeringState(c2, 'cluster-01')) === 'ACTIVE', {
        what: 'cluster-02 ACTIVE',
        timeoutMs: LONG,
        onTimeout: logs,
      });
      await waitFor(async () => (await peeringState(c1, 'cluster-02')) === 'ACTIVE', {
        what: 'cluster-01 ACTIVE',
        timeoutMs: LONG,
        onTimeout: logs,
      });
      for (const [s, kind, name] of [
        [c1, 'peeringacceptor', 'cluster-02'],
        [c2, 'peeringdialer', 'cluster-01'],
      ] as const) {
        await waitFor(
          async () => {
            const o = await getJson(s.kc, [kind, name]);
            return synced(o)?.status === 'True' && o?.status?.peeringState === 'ACTIVE';
          },
          { what: `${kind} ${name} Synced and ACTIVE`, timeoutMs: LONG, onTimeout: logs },
        );
      }
      // The stream went through the gateways: the dialer's gateway sent it out, the acceptor's took it in.
      expect(await gatewayCount(c2, 'peering-outbound')).toBeGreaterThan(0);
      expect(await gatewayCount(c1, 'peering-inbound')).toBeGreaterThan(0);
    },
    10 * 60_000,
  );
});

async function gatewayCount(s: Installed, route: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${s.gatewayMetrics}/metrics`)).text();
  const v = metricValue(text, 'meshpeer_gateway_connections_forwarded_total', { route });
  return Number.isNaN(v) ? 0 : v;
}

const backendDeployment = (replicas: number): string => `apiVersion: apps/v1
kind: Deployment
metadata: { name: backend }
spec:
  replicas: ${replicas}
  selector: { matchLabels: { app: backend } }
  template:
    metadata:
      labels: { app: backend }
      annotations:
        consul.hashicorp.com/connect-inject: "true"
    spec:
      containers:
        - name: backend
          image: example/backend:1
          ports: [{ name: http, containerPort: 8080 }]
---
apiVersion: v1
kind: Service
metadata: { name: backend }
spec:
  selector: { app: backend }
  ports: [{ port: 80, targetPort: 8080 }]
`;

const frontendDeployment = (): string => `apiVersion: apps/v1
kind: Deployment
metadata: { name: frontend }
spec:
  replicas: 1
  selector: { matchLabels: { app: frontend } }
  template:
    metadata:
      labels: { app: frontend }
      annotations:
        consul.hashicorp.com/connect-inject: "true"
        consul.hashicorp.com/connect-service-upstreams: "backend.svc.cluster-01.peer:${upstreamPort}"
    spec:
      containers:
        - name: frontend
          image: example/frontend:1
`;

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

const allowFrontend = `apiVersion: consul.hashicorp.com/v1alpha1
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
`;

// Without ACLs the sidecars' default is allow (as Consul's); a deny-all intention makes the allow above
// the only way in, so deleting it refuses frontend.
const denyAll = `apiVersion: consul.hashicorp.com/v1alpha1
kind: ServiceIntentions
metadata:
  name: deny-all
spec:
  destination:
    name: "*"
  sources:
    - name: "*"
      action: deny
    - name: "*"
      peer: cluster-02
      action: deny
`;

const proxyDefaultsLocal = `apiVersion: consul.hashicorp.com/v1alpha1
kind: ProxyDefaults
metadata:
  name: global
spec:
  meshGateway:
    mode: local
`;

interface Pod {
  metadata: { name: string; deletionTimestamp?: string; annotations?: Record<string, string> };
  spec: {
    containers: {
      name: string;
      image: string;
      command?: string[];
      args?: string[];
      env?: { name: string; value: string }[];
    }[];
  };
  status?: { podIP?: string; conditions?: { type: string; status: string }[] };
}

/** A container's literal env values, as the pod gives them to the process. */
function podEnv(container: { env?: { name: string; value: string }[] }): Record<string, string> {
  return Object.fromEntries(
    (container.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value]),
  );
}

async function pods(s: Installed, app: string): Promise<Pod[]> {
  const out = await kubectlOk(s.kc, ['get', 'pods', '-l', `app=${app}`, '-o', 'json']);
  return (JSON.parse(out) as { items: Pod[] }).items.filter((p) => !p.metadata.deletionTimestamp);
}

const ready = (p: Pod): boolean =>
  Boolean(p.status?.podIP) &&
  (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

/** Backend's ready pods, its instances in cluster-01's catalog, and those cluster-02 imports. */
async function backendViews(): Promise<{ pods: string[]; local: string[]; imported: string[] }> {
  const [c1, c2] = [site('cluster-01'), site('cluster-02')];
  const local = await call<{ ServiceID: string; ServiceAddress: string }[]>(
    c1,
    '/v1/catalog/service/backend',
  );
  const imported = await call<{ Service: { ID: string; PeerName?: string } }[]>(
    c2,
    '/v1/health/service/backend?peer=cluster-01',
  );
  return {
    pods: (await pods(c1, 'backend'))
      .filter(ready)
      .map((p) => `${p.metadata.name}-backend@${p.status?.podIP}`)
      .sort(),
    local: local.body.map((r) => `${r.ServiceID}@${r.ServiceAddress}`).sort(),
    imported: imported.body
      .filter((e) => e.Service.PeerName === 'cluster-01')
      .map((e) => e.Service.ID)
      .sort(),
  };
}

/** Waits until both catalogs hold exactly backend's `count` ready pods; returns the views. */
async function bothSides(count: number): Promise<{ pods: string[]; local: string[]; imported: string[] }> {
  return waitFor(
    async () => {
      const v = await backendViews();
      const ids = v.pods.map((p) => p.split('@')[0]);
      return v.pods.length === count && v.local.join() === v.pods.join() && v.imported.join() === ids.join()
        ? v
        : false;
    },
    {
      what: `${count} backend pods in cluster-01's catalog and imported by cluster-02`,
      timeoutMs: LONG,
      onTimeout: logs,
    },
  );
}

describe('workloads in the peered clusters', () => {
  it(
    'backend (2 replicas) in cluster-01 and frontend in cluster-02 are injected: the sidecar and its args',
    async () => {
      const [c1, c2] = [site('cluster-01'), site('cluster-02')];
      await kubectlOk(c1.kc, ['apply', '-f', '-'], backendDeployment(2));
      await kubectlOk(c2.kc, ['apply', '-f', '-'], frontendDeployment());
      await kubectlOk(c1.kc, ['apply', '-f', '-'], `${exportedServices}---\n${allowFrontend}---\n${denyAll}`);
      const backends = await waitFor(
        async () => ((await pods(c1, 'backend')).length === 2 ? pods(c1, 'backend') : false),
        {
          what: 'two backend pods',
          timeoutMs: LONG,
        },
      );
      // The sidecars dial the server's Service by its fully qualified name (the chart's --inject-server).
      const injectServer = 'https://consul-server.mesh.svc:8501';
      for (const p of backends) {
        expect(p.metadata.annotations?.['consul.hashicorp.com/connect-inject-status']).toBe('injected');
        expect(p.spec.containers.map((c) => c.name)).toEqual(['backend', 'meshpeer-proxy']);
        expect(p.spec.containers[1]).toMatchObject({
          image: 'meshpeer/meshpeer:0.1.0',
          command: ['meshpeer', 'proxy'],
          args: ['--service', 'backend', '--listen', '0.0.0.0:20000', '--app-port', '8080'],
          env: [
            { name: 'MESHPEER_HTTP_ADDR', value: injectServer },
            { name: 'MESHPEER_HTTP_CACERT_PEM', value: readFileSync(c1.ca, 'utf8').trim().concat('\n') },
          ],
        });
      }
      const [frontend] = await waitFor(
        async () => ((await pods(c2, 'frontend')).length === 1 ? pods(c2, 'frontend') : false),
        {
          what: 'the frontend pod',
          timeoutMs: LONG,
        },
      );
      expect(frontend?.spec.containers.map((c) => c.name)).toEqual(['frontend', 'meshpeer-proxy']);
      expect(frontend?.spec.containers[1]).toMatchObject({
        command: ['meshpeer', 'proxy'],
        args: ['--service', 'frontend', '--upstream', `backend:peer=cluster-01:${upstreamPort}`],
        env: [
          { name: 'MESHPEER_HTTP_ADDR', value: injectServer },
          { name: 'MESHPEER_HTTP_CACERT_PEM', value: readFileSync(c2.ca, 'utf8').trim().concat('\n') },
        ],
      });
      for (const [s, kind, name] of [
        [c1, 'exportedservices', 'default'],
        [c1, 'serviceintentions', 'backend'],
        [c1, 'serviceintentions', 'deny-all'],
      ] as const) {
        await waitFor(async () => synced(await getJson(s.kc, [kind, name]))?.status === 'True', {
          what: `${kind} ${name} Synced`,
          timeoutMs: LONG,
          onTimeout: logs,
        });
      }
    },
    10 * 60_000,
  );

  it(
    "backend's pods are in cluster-01's catalog (pod IPs) and imported by cluster-02",
    async () => {
      const v = await bothSides(2);
      expect(v.local.every((r) => /@127\.1\.\d+\.\d+$/.test(r))).toBe(true);
    },
    10 * 60_000,
  );

  it(
    'scaling backend to 3 adds one on both sides; a deleted pod leaves both',
    async () => {
      const c1 = site('cluster-01');
      await kubectlOk(c1.kc, ['scale', 'deployment/backend', '--replicas=3']);
      const three = await bothSides(3);
      const victim = three.pods[0]?.split('-backend@')[0];
      if (!victim) throw new Error('no backend pod');
      await kubectlOk(c1.kc, ['delete', 'pod', victim, '--wait=true']);
      const after = await bothSides(3);
      expect(after.pods.some((p) => p.startsWith(`${victim}-backend@`))).toBe(false);
      expect(after.imported.some((id) => id.startsWith(`${victim}-`))).toBe(false);
    },
    10 * 60_000,
  );
});

describe('traffic from the mutated pod specs', () => {
  let frontendUpstream: Endpoint;
  let backendSidecarProc: MeshpeerProcess | undefined;

  it(
    "frontend's localhost upstream reaches backend in cluster-01 through both gateways",
    async () => {
      const [c1, c2] = [site('cluster-01'), site('cluster-02')];
      // One backend pod, whose sidecar runs here; frontend goes through its own gateway (mode local).
      await kubectlOk(c1.kc, ['scale', 'deployment/backend', '--replicas=1']);
      const [only] = (await bothSides(1)).pods;
      const podName = only?.split('-backend@')[0] ?? '';
      const [backendPod] = (await pods(c1, 'backend')).filter((p) => p.metadata.name === podName);
      const [frontendPod] = await pods(c2, 'frontend');
      const sidecarOf = (p: Pod | undefined) => {
        const c = p?.spec.containers.find((x) => x.name === 'meshpeer-proxy');
        if (!c) throw new Error('no injected sidecar');
        return c;
      };
      await kubectlOk(c2.kc, ['apply', '-f', '-'], proxyDefaultsLocal);
      await waitFor(
        async () => synced(await getJson(c2.kc, ['proxydefaults', 'global']))?.status === 'True',
        {
          what: 'ProxyDefaults Synced',
          timeoutMs: LONG,
          onTimeout: logs,
        },
      );

      echo = await startNamedEchoServer('backend-in-cluster-01');
      const podIP = backendPod?.status?.podIP ?? '';
      expect(podIP).toMatch(/^127\.1\./);
      const backendSidecar = sidecarOf(backendPod);
      // The pod's address is its loopback pod IP; the app is the echo server (its port replaces 8080).
      const backendArgs = localCommand(backendSidecar, {
        '0.0.0.0:20000': `${podIP}:20000`,
        '8080': String(echo.address.port),
      });
      // The pod's own environment, with the server's loopback address for its Service name: the CA
      // comes inline from the pod spec (no NODE_EXTRA_CA_CERTS, no mounted file).
      const backendProc = startMeshpeer(backendArgs, {
        ...podEnv(backendSidecar),
        MESHPEER_HTTP_ADDR: c1.url,
      });
      extra.push(backendProc);
      backendSidecarProc = backendProc;
      await backendProc.waitFor(/sidecar for backend: inbound mTLS on/);

      const frontendSidecar = sidecarOf(frontendPod);
      const frontendProc = startMeshpeer(localCommand(frontendSidecar, {}), {
        ...podEnv(frontendSidecar),
        MESHPEER_HTTP_ADDR: c2.url,
      });
      extra.push(frontendProc);
      await frontendProc.waitFor(
        new RegExp(`upstream backend \\(peer cluster-01\\) on 127\\.0\\.0\\.1:${upstreamPort}`),
      );
      frontendUpstream = { host: '127.0.0.1', port: upstreamPort };

      const outBefore = await gatewayCount(c2, 'outbound');
      const inBefore = await gatewayCount(c1, 'inbound');
      const answer = await waitFor(
        async () => {
          const got = (await echoOnce(frontendUpstream, 'hello from frontend')).toString();
          return got === 'backend-in-cluster-01:hello from frontend' ? got : false;
        },
        {
          what: "frontend's upstream answered by backend",
          timeoutMs: LONG,
          onTimeout: () =>
            `${logs()}\n--- backend sidecar\n${backendProc.output().slice(-2000)}\n--- frontend sidecar\n${frontendProc.output().slice(-2000)}`,
        },
      );
      expect(answer).toBe('backend-in-cluster-01:hello from frontend');
      // Both gateways carried it: cluster-02's out to the peer, cluster-01's in to the sidecar.
      expect(await gatewayCount(c2, 'outbound')).toBeGreaterThan(outBefore);
      expect(await gatewayCount(c1, 'inbound')).toBeGreaterThan(inBefore);
    },
    10 * 60_000,
  );

  it(
    'without the ServiceIntentions allowing frontend, the connection is refused',
    async () => {
      const c1 = site('cluster-01');
      await kubectlOk(c1.kc, ['delete', 'serviceintentions', 'backend']);
      await waitFor(async () => (await call(c1, '/v1/config/service-intentions/backend')).status === 404, {
        what: 'the intention entry deleted',
        timeoutMs: LONG,
        onTimeout: logs,
      });
      await waitFor(async () => (await echoOnce(frontendUpstream, 'again')).length === 0, {
        what: 'the connection refused',
        timeoutMs: LONG,
        onTimeout: logs,
      });
      const served = echo?.connections ?? 0;
      expect((await echoOnce(frontendUpstream, 'once more')).length).toBe(0);
      expect(echo?.connections).toBe(served);
      // Refused by backend's sidecar in cluster-01, for the reason the intentions now give.
      expect(backendSidecarProc?.output()).toMatch(
        /"reason":"intention-deny".*refused inbound connection: intention peer cluster-02\/\* → \* says deny/,
      );
    },
    10 * 60_000,
  );
});
