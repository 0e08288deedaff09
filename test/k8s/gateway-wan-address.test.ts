// meshGateway.wanAddress.source=Service end to end: `meshpeer gateway --advertise-service` reads a real
// Service on a real kube-apiserver and registers with a real server at the address peers must dial: the
// LoadBalancer's ingress once one is assigned (it waits, saying why, until then), or a node's address
// with the node port the API server allocated. No cloud here, so the test sets the ingress in the
// Service's status itself, as a cloud controller would.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KubeApiServer, kubectlOk, repoRoot, startKubeApiServer } from '../support/kube-apiserver.js';
import { CLI, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';

const ns = `wan-${randomBytes(3).toString('hex')}`;
let api: KubeApiServer | undefined;
let server: ServerProcess | undefined;
const gateways = new Set<ChildProcess>();

function serviceYaml(name: string, type: string): string {
  return `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ${ns} }
spec:
  type: ${type}
  selector: { app: ${name} }
  ports: [{ name: gateway, port: 8443, targetPort: 8443, protocol: TCP }]
`;
}

interface Gateway {
  logs: () => string;
  waitFor: (text: string) => Promise<void>;
}

function startGateway(id: string, args: string[]): Gateway {
  const child = spawn(
    process.execPath,
    [
      CLI,
      'gateway',
      '--server',
      server?.url ?? '',
      '--listen',
      '127.0.0.1:0',
      '--register',
      '--service-id',
      id,
      ...args,
    ],
    {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, KUBECONFIG: api?.kubeconfigPath ?? '' },
    },
  );
  gateways.add(child);
  let out = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  const onData = (chunk: Buffer): void => {
    out += chunk.toString();
    for (const w of waiters.filter((x) => out.includes(x.text))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  return {
    logs: () => out,
    waitFor: (text) =>
      new Promise<void>((resolveWait, reject) => {
        if (out.includes(text)) return resolveWait();
        const timer = setTimeout(() => reject(new Error(`no "${text}" in 60 s:\n${out}`)), 60_000);
        waiters.push({
          text,
          resolve: () => {
            clearTimeout(timer);
            resolveWait();
          },
        });
      }),
  };
}

interface GatewayEntry {
  ServiceID: string;
  ServiceAddress: string;
  ServicePort: number;
  ServiceTaggedAddresses?: { wan?: { Address: string; Port: number } };
}

async function entryOf(id: string): Promise<GatewayEntry | undefined> {
  const res = await fetch(`${server?.url}/v1/catalog/service/mesh-gateway`);
  return ((await res.json()) as GatewayEntry[]).find((e) => e.ServiceID === id);
}

/** The WAN address one gateway instance registered: what the exporter tells peers to dial. */
async function registered(id: string): Promise<string | undefined> {
  const wan = (await entryOf(id))?.ServiceTaggedAddresses?.wan;
  return wan ? `${wan.Address}:${wan.Port}` : undefined;
}

async function eventually(id: string, want: string): Promise<void> {
  // Generous: a gateway starts a Node process and waits for its first configuration, slow on a busy machine.
  const deadline = Date.now() + 60_000;
  let got: string | undefined;
  while (Date.now() < deadline) {
    got = await registered(id);
    if (got === want) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(got).toBe(want);
}

beforeAll(async () => {
  [api, server] = await Promise.all([startKubeApiServer('wan'), startServerProcess({ datacenter: 'wan' })]);
  await kubectlOk(api.kubeconfigPath, ['create', 'namespace', ns]);
}, 40 * 60_000);

afterAll(async () => {
  await Promise.all(
    [...gateways].map(
      (g) =>
        new Promise<void>((resolveExit) => {
          if (g.exitCode !== null || g.signalCode !== null) return resolveExit();
          g.once('exit', () => resolveExit());
          g.kill('SIGTERM');
        }),
    ),
  );
  await server?.stop();
  await api?.stop();
});

describe('meshpeer gateway --advertise-service', { timeout: 150_000 }, () => {
  it('waits for the LoadBalancer ingress, then registers at it with the Service port', async () => {
    await kubectlOk(api?.kubeconfigPath ?? '', ['apply', '-f', '-'], serviceYaml('gw-lb', 'LoadBalancer'));
    const gw = startGateway('gw-lb-1', ['--advertise-service', `${ns}/gw-lb`]);
    await gw.waitFor(`the LoadBalancer of Service ${ns}/gw-lb has no ingress address yet`);
    expect(await registered('gw-lb-1')).toBeUndefined();

    await kubectlOk(api?.kubeconfigPath ?? '', [
      '-n',
      ns,
      'patch',
      'service',
      'gw-lb',
      '--subresource=status',
      '--type=merge',
      '-p',
      '{"status":{"loadBalancer":{"ingress":[{"ip":"203.0.113.10"}]}}}',
    ]);
    await eventually('gw-lb-1', '203.0.113.10:8443');
    // Its own address stays what this cluster's sidecars dial.
    expect((await entryOf('gw-lb-1'))?.ServiceAddress).toBe('127.0.0.1');
    // The log says it too (written asynchronously, so waited for).
    await gw.waitFor(`"from":"LoadBalancer ingress of Service ${ns}/gw-lb"`);
    await gw.waitFor('"advertise":"203.0.113.10:8443"');

    // `meshpeer peering read` on this (accepting) cluster says where peers reach it.
    const cli = (args: string[]) =>
      spawnSync(process.execPath, [CLI, ...args], {
        encoding: 'utf8',
        env: { ...process.env, MESHPEER_HTTP_ADDR: server?.url ?? '' },
      });
    expect(cli(['peering', 'generate-token', '--name', 'cluster-02']).status).toBe(0);
    const read = cli(['peering', 'read', '--name', 'cluster-02']);
    expect(read.stdout).toMatch(/Local Mesh Gateways: +203\.0\.113\.10:8443\n/);
  });

  it("registers a NodePort Service at the node's address and the allocated node port", async () => {
    const kc = api?.kubeconfigPath ?? '';
    await kubectlOk(kc, ['apply', '-f', '-'], serviceYaml('gw-np', 'NodePort'));
    const nodePort = await kubectlOk(kc, [
      '-n',
      ns,
      'get',
      'service',
      'gw-np',
      '-o',
      'jsonpath={.spec.ports[0].nodePort}',
    ]);
    expect(Number(nodePort)).toBeGreaterThanOrEqual(30000);
    startGateway('gw-np-1', ['--advertise-service', `${ns}/gw-np`, '--advertise-node-address', '192.0.2.7']);
    await eventually('gw-np-1', `192.0.2.7:${nodePort.trim()}`);
  });

  it('registers each replica under its own ID at the one shared address', async () => {
    startGateway('gw-lb-2', ['--advertise-service', `${ns}/gw-lb`]);
    await eventually('gw-lb-2', '203.0.113.10:8443');
    expect(await registered('gw-lb-1')).toBe('203.0.113.10:8443');
  });
});
