// Uniqueness across namespaces on a real kube-apiserver: the controller's validating webhook refuses a
// second Mesh, a second PeeringAcceptor/PeeringDialer of one peer name and a second config entry of one
// kind and name, each with a message naming the resource that holds it; and with the webhook gone, the
// controller itself leaves the server object to the older resource and keeps it when the younger one
// is deleted.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type KubeApiServer,
  kubectl,
  kubectlOk,
  repoRoot,
  startKubeApiServer,
} from '../support/kube-apiserver.js';
import { CLI, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';

const suffix = randomBytes(3).toString('hex');
const nsA = `team-a-${suffix}`;
const nsB = `team-b-${suffix}`;
let api: KubeApiServer | undefined;
let server: ServerProcess | undefined;
let controller: ChildProcess | undefined;
let scratch = '';
let kc = '';

function resource(kind: string, namespace: string, name: string, spec: string): string {
  return `apiVersion: consul.hashicorp.com/v1alpha1
kind: ${kind}
metadata: { name: ${name}, namespace: ${namespace} }
spec: ${spec}
`;
}

const acceptorSpec = (secret: string) =>
  `{ peer: { secret: { name: ${secret}, key: data, backend: kubernetes } } }`;

async function apply(yaml: string): Promise<{ code: number; stderr: string }> {
  const r = await kubectl(kc, ['apply', '-f', '-'], yaml);
  return { code: r.code, stderr: r.stderr };
}

function webhookConfig(port: number, ca: string): string {
  return `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: { name: meshpeer-test-${suffix} }
webhooks:
  - name: uniqueness.meshpeer.consul.hashicorp.com
    admissionReviewVersions: [v1]
    sideEffects: None
    failurePolicy: Fail
    clientConfig:
      url: https://127.0.0.1:${port}/validate
      caBundle: ${Buffer.from(ca).toString('base64')}
    rules:
      - apiGroups: [consul.hashicorp.com]
        apiVersions: [v1alpha1]
        operations: [CREATE, UPDATE]
        resources: [peeringacceptors, peeringdialers, meshes, exportedservices, proxydefaults, serviceintentions, serviceresolvers]
        scope: Namespaced
`;
}

async function synced(kind: string, namespace: string, name: string): Promise<string> {
  return kubectlOk(kc, [
    '-n',
    namespace,
    'get',
    kind,
    name,
    '-o',
    'jsonpath={.status.conditions[?(@.type=="Synced")].status}/{.status.conditions[?(@.type=="Synced")].reason}',
  ]);
}

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 30_000;
  let last: T = await read();
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(last)} after 30 s`);
    await new Promise((r) => setTimeout(r, 250));
    last = await read();
  }
  return last;
}

beforeAll(async () => {
  [api, server] = await Promise.all([
    startKubeApiServer('admission'),
    startServerProcess({ datacenter: 'adm' }),
  ]);
  kc = api.kubeconfigPath;
  await kubectlOk(kc, ['apply', '-f', path.join(repoRoot, 'deploy', 'crds')]);
  await kubectlOk(kc, ['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
  await kubectlOk(kc, ['create', 'namespace', nsA]);
  await kubectlOk(kc, ['create', 'namespace', nsB]);

  scratch = mkdtempSync(path.join(tmpdir(), 'meshpeer-admission-'));
  const cert = path.join(scratch, 'tls.crt');
  const key = path.join(scratch, 'tls.key');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );

  controller = spawn(
    process.execPath,
    [
      CLI,
      'controller',
      '--kubeconfig',
      kc,
      '--server',
      server.url,
      '--resync-period',
      '2s',
      '--webhook-addr',
      '127.0.0.1:0',
      '--webhook-tls-cert',
      cert,
      '--webhook-tls-key',
      key,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let logs = '';
  const port = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`no webhook in 30 s:\n${logs}`)), 30_000);
    const onData = (chunk: Buffer): void => {
      logs += chunk.toString();
      const m = /"address":"127\.0\.0\.1:(\d+)","msg":"serving the admission webhook"/.exec(logs);
      if (m?.[1]) {
        clearTimeout(timer);
        resolvePort(Number(m[1]));
      }
    };
    controller?.stdout?.on('data', onData);
    controller?.stderr?.on('data', onData);
  });
  await kubectlOk(kc, ['apply', '-f', '-'], webhookConfig(port, readFileSync(cert, 'utf8')));
}, 40 * 60_000);

afterAll(async () => {
  if (controller && controller.exitCode === null) {
    const exited = new Promise((r) => controller?.once('exit', r));
    controller.kill('SIGTERM');
    await exited;
  }
  await server?.stop();
  await api?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('the admission webhook', () => {
  it('refuses a second Mesh, naming the first', async () => {
    expect(
      (await apply(resource('Mesh', nsA, 'mesh', '{ peering: { peerThroughMeshGateways: true } }'))).code,
    ).toBe(0);
    const second = await apply(
      resource('Mesh', nsB, 'mesh', '{ peering: { peerThroughMeshGateways: false } }'),
    );
    expect(second.code).not.toBe(0);
    expect(second.stderr).toContain(
      `Mesh "mesh" in namespace "${nsA}" already manages the config entry mesh/mesh`,
    );
  });

  it('still lets the first Mesh be updated', async () => {
    expect(
      (await apply(resource('Mesh', nsA, 'mesh', '{ peering: { peerThroughMeshGateways: false } }'))).code,
    ).toBe(0);
  });

  it('refuses a PeeringAcceptor, and a PeeringDialer, of a peer name another namespace accepts', async () => {
    expect((await apply(resource('PeeringAcceptor', nsA, 'cluster-02', acceptorSpec('tok-a')))).code).toBe(0);
    const acceptor = await apply(resource('PeeringAcceptor', nsB, 'cluster-02', acceptorSpec('tok-b')));
    expect(acceptor.code).not.toBe(0);
    expect(acceptor.stderr).toContain(
      `PeeringAcceptor "cluster-02" in namespace "${nsA}" already manages the peering "cluster-02"`,
    );
    const dialer = await apply(resource('PeeringDialer', nsB, 'cluster-02', acceptorSpec('tok-b')));
    expect(dialer.code).not.toBe(0);
    expect(dialer.stderr).toContain(`PeeringAcceptor "cluster-02" in namespace "${nsA}"`);
  });

  it('refuses a second config entry of one kind and name, ServiceIntentions by destination', async () => {
    const exported = '{ services: [{ name: web, consumers: [{ peer: cluster-02 }] }] }';
    expect((await apply(resource('ExportedServices', nsA, 'default', exported))).code).toBe(0);
    const second = await apply(resource('ExportedServices', nsB, 'default', exported));
    expect(second.stderr).toContain(`ExportedServices "default" in namespace "${nsA}"`);

    const intentions = (source: string) =>
      `{ destination: { name: web }, sources: [{ name: ${source}, action: allow }] }`;
    expect((await apply(resource('ServiceIntentions', nsA, 'web-a', intentions('api')))).code).toBe(0);
    const other = await apply(resource('ServiceIntentions', nsB, 'web-b', intentions('ui')));
    expect(other.code).not.toBe(0);
    expect(other.stderr).toContain(
      `ServiceIntentions "web-a" in namespace "${nsA}" already manages the config entry service-intentions/web`,
    );
  });
});

describe('the controller, without the webhook', () => {
  it('leaves the peering to the older acceptor and keeps it when the younger one is deleted', async () => {
    await kubectlOk(kc, ['delete', 'validatingwebhookconfiguration', `meshpeer-test-${suffix}`]);
    expect((await apply(resource('PeeringAcceptor', nsA, 'dup', acceptorSpec('dup-a')))).code).toBe(0);
    await until(
      () => synced('peeringacceptor', nsA, 'dup'),
      (s) => s.startsWith('True'),
      'older acceptor synced',
    );
    expect((await apply(resource('PeeringAcceptor', nsB, 'dup', acceptorSpec('dup-b')))).code).toBe(0);
    expect(
      await until(
        () => synced('peeringacceptor', nsB, 'dup'),
        (s) => s !== '/',
        'younger acceptor status',
      ),
    ).toBe('False/DuplicateResource');
    const before = (await (await fetch(`${server?.url}/v1/peering/dup`)).json()) as { ID: string };

    await kubectlOk(kc, ['-n', nsB, 'delete', 'peeringacceptor', 'dup', '--timeout=30s']);
    const after = await fetch(`${server?.url}/v1/peering/dup`);
    expect(after.status).toBe(200);
    expect(((await after.json()) as { ID: string }).ID).toBe(before.ID);
    expect(await synced('peeringacceptor', nsA, 'dup')).toMatch(/^True/);
  });
});
