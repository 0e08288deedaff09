// The etcd StatefulSet and the three servers the chart renders for server.replicas 3 with
// server.etcd.deploy.enabled, started as real processes on loopback from the rendered command lines,
// with the rendered Secrets as files where the pods mount them: the generated certificates form the etcd
// cluster over peer TLS, the probes' /readyz answers, the servers reach etcd with their client
// certificate (and not without it), and a write through one server is read through another.
// Only what a pod gets from Kubernetes is replaced: listen and DNS addresses by loopback ports,
// $(POD_NAME) and $(POD_IP), and the node name a pod takes from its hostname.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { etcdBinary } from '../../bench/support/etcd-cluster.js';
import { freePort } from '../../src/shared/testing/free-port.js';
import { buildKubeApiServer } from '../support/kube-apiserver.js';
import { cli, commandOf, containerOf, find, type K8sObject, render, useHelm } from './support.js';

useHelm();

const ETCD = 'test-meshpeer-etcd';
const MEMBERS = 3;
const SERVERS = 3;
const PORTS = [2379, 2380, 2381, 2382];

let scratch = '';
let objects: K8sObject[] = [];
/** Loopback port of member i for its in-pod port p. */
const ports: Map<number, number>[] = [];
const children: ChildProcess[] = [];
const etcdLogFiles: string[] = [];
const etcdLogs = (): string => etcdLogFiles.map((f) => readFileSync(f, 'utf8')).join('\n');

function secretFile(name: string, key: string): string {
  const data = find(objects, 'Secret', name).data?.[key];
  if (data === undefined) throw new Error(`Secret ${name} has no ${key}`);
  return Buffer.from(data, 'base64').toString('utf8');
}

function local(i: number, p: number): string {
  return `127.0.0.1:${ports[i]?.get(p) ?? 0}`;
}

/** A rendered etcd argument of member i with the pod's addresses and paths made local. */
function localEtcdArg(arg: string, i: number, tls: string): string {
  return arg
    .replaceAll(/\$\(POD_NAME\)\.[a-z0-9.-]+\.svc:(\d+)/g, (_, p: string) => local(i, Number(p)))
    .replaceAll(new RegExp(`${ETCD}-(\\d+)\\.[a-z0-9.-]+\\.svc:(\\d+)`, 'g'), (_, j: string, p: string) =>
      local(Number(j), Number(p)),
    )
    .replaceAll(/0\.0\.0\.0:(\d+)/g, (_, p: string) => local(i, Number(p)))
    .replaceAll('$(POD_NAME)', `${ETCD}-${i}`)
    .replace('/var/lib/etcd', join(scratch, `etcd-${i}`))
    .replace('/etc/etcd/tls', tls);
}

/** The IP that pod i of the server StatefulSet advertises in these tests. */
const podIp = (i: number): string => `127.0.0.${10 + i}`;

async function waitFor(what: string, check: () => Promise<boolean>, log: () => string): Promise<void> {
  for (let attempt = 0; attempt < 300; attempt++) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not happen:\n${log().slice(-3000)}`);
}

interface RunningServer {
  url: string;
  logs: () => string;
}

/** Server pod `i` from the rendered StatefulSet; `drop` leaves flags (and their values) out. */
function startServer(i: number, drop: string[] = []): { child: ChildProcess; ready: Promise<RunningServer> } {
  const sts = find(objects, 'StatefulSet', 'test-meshpeer-server');
  const mounts = new Map<string, string>();
  for (const m of containerOf(sts).volumeMounts ?? []) {
    const dir = join(scratch, `server-${i}`, m.name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    mounts.set(m.mountPath, dir);
    const volume = sts.spec?.template?.spec.volumes?.find((v) => v.name === m.name);
    for (const item of volume?.secret?.items ?? []) {
      writeFileSync(join(dir, item.path), secretFile(volume?.secret?.secretName ?? '', item.key), {
        mode: 0o600,
      });
    }
  }
  const rendered = commandOf(sts).slice(1);
  const args: string[] = [];
  for (let k = 0; k < rendered.length; k++) {
    const a = rendered[k] ?? '';
    if (drop.includes(a)) {
      k++;
      continue;
    }
    const previous = args.at(-1);
    if (previous === '--http-addr' || previous === '--grpc-addr') args.push('127.0.0.1:0');
    else if (previous === '--etcd-endpoints')
      args.push(
        a.replaceAll(
          new RegExp(`${ETCD}-(\\d+)\\.[a-z0-9.-]+\\.svc:(\\d+)`, 'g'),
          (_, j: string, p: string) => local(Number(j), Number(p)),
        ),
      );
    else {
      // Each pod has an IP of its own; only advertised here (the server listens on 127.0.0.1).
      let arg = a.replace('$(POD_IP)', podIp(i));
      for (const [mountPath, dir] of mounts)
        if (arg.startsWith(`${mountPath}/`)) arg = dir + arg.slice(mountPath.length);
      args.push(arg);
    }
  }
  // A pod's hostname (the default node name) is its own; here every process shares one.
  args.push('--node-name', `test-meshpeer-server-${i}`);
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let logs = '';
  const ready = new Promise<RunningServer>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server ${i} did not start:\n${logs}`)), 60_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      logs += chunk.toString();
      const line = logs.split('\n').find((l) => l.includes('"msg":"server ready"'));
      const m = line === undefined ? null : /"httpAddress":"127\.0\.0\.1:(\d+)"/.exec(line);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve({ url: `http://127.0.0.1:${m[1]}`, logs: () => logs });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server ${i} exited (${code}):\n${logs}`));
    });
  });
  return { child, ready };
}

beforeAll(async () => {
  await buildKubeApiServer(); // builds the etcd binary when it is not cached
  objects = render({ server: { replicas: SERVERS, etcd: { deploy: { enabled: true, replicas: MEMBERS } } } });
  scratch = mkdtempSync(join(tmpdir(), 'meshpeer-helm-etcd-run-'));
  for (let i = 0; i < MEMBERS; i++) {
    const map = new Map<number, number>();
    for (const p of PORTS) map.set(p, await freePort());
    ports.push(map);
  }
}, 40 * 60_000);

afterAll(async () => {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
          setTimeout(() => c.kill('SIGKILL'), 10_000).unref();
        }),
    ),
  );
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('the rendered etcd and servers, run', () => {
  const servers: RunningServer[] = [];

  it('forms a three-member etcd cluster over TLS with the generated certificates; /readyz answers on the probe port', async () => {
    const etcd = find(objects, 'StatefulSet', ETCD);
    // The projected volume at /etc/etcd/tls: ca.crt from one Secret, tls.crt and tls.key from another.
    const tls = join(scratch, 'etcd-tls');
    mkdirSync(tls, { mode: 0o700 });
    const volume = (etcd.spec?.template?.spec.volumes ?? []).find((v) => v.name === 'tls') as unknown as {
      projected: { sources: { secret: { name: string; items: { key: string; path: string }[] } }[] };
    };
    for (const { secret } of volume.projected.sources)
      for (const item of secret.items)
        writeFileSync(join(tls, item.path), secretFile(secret.name, item.key), { mode: 0o600 });
    const [binary, ...rendered] = commandOf(etcd);
    expect(binary).toBe('etcd');
    for (let i = 0; i < MEMBERS; i++) {
      // Tests run etcd without fsync, as the repository's other etcd tests do.
      const args = [...rendered.map((a) => localEtcdArg(a, i, tls)), '--unsafe-no-fsync'];
      const logFile = join(scratch, `etcd-${i}.log`);
      etcdLogFiles.push(logFile);
      const out = openSync(logFile, 'a');
      children.push(spawn(etcdBinary(), args, { stdio: ['ignore', out, out] }));
      closeSync(out);
    }
    for (let i = 0; i < MEMBERS; i++) {
      const readyz = `http://${local(i, 2381)}/readyz`;
      await waitFor(`member ${i} ready`, async () => (await fetch(readyz)).status === 200, etcdLogs);
    }
    // The members reached each other over peer TLS: each has its two peers active.
    for (let i = 0; i < MEMBERS; i++) {
      const metrics = await fetch(`http://${local(i, 2381)}/metrics`).then((r) => r.text());
      const active = metrics.split('\n').filter((l) => /^etcd_network_active_peers\{.*\} 1$/.test(l));
      expect(active, `member ${i}`).toHaveLength(MEMBERS - 1);
      expect(metrics).toMatch(/^etcd_server_has_leader 1$/m);
    }
  });

  it('refuses a client without the client certificate the chart gave the servers', async () => {
    const { ready } = startServer(9, ['--etcd-cert-file', '--etcd-key-file']);
    const failure = await ready.then(
      () => 'started',
      (err: Error) => err.message,
    );
    expect(failure).toMatch(/server 9 exited \(1\)/);
    expect(failure).toMatch(/etcd \(https:\/\/127\.0\.0\.1:\d+, .*\) did not answer/);
    // (The same command with the certificate starts: the next test.)
  });

  it('starts three servers from the rendered StatefulSet, each reaching etcd with its client certificate', async () => {
    const started = Array.from({ length: SERVERS }, (_, i) => startServer(i).ready);
    servers.push(...(await Promise.all(started)));
    expect(servers).toHaveLength(SERVERS);
  });

  it('reads through every server what was written through one', async () => {
    const first = servers[0];
    if (!first) throw new Error('no server');
    const reg = await fetch(`${first.url}/v1/catalog/register`, {
      method: 'PUT',
      body: JSON.stringify({
        Node: 'n1',
        Address: '10.0.0.1',
        Service: { ID: 'web-1', Service: 'web', Port: 80 },
      }),
    });
    expect(reg.status).toBe(200);
    for (const s of servers) {
      let ids: string[] = [];
      await waitFor(
        `web-1 on ${s.url}`,
        async () => {
          const res = await fetch(`${s.url}/v1/catalog/service/web`);
          ids = ((await res.json()) as { ServiceID: string }[]).map((x) => x.ServiceID);
          return ids.length > 0;
        },
        s.logs,
      );
      expect(ids).toEqual(['web-1']);
    }
    // Each server is its own node of the one shared catalog.
    const nodes = (await fetch(`${first.url}/v1/catalog/nodes`).then((r) => r.json())) as { Node: string }[];
    expect(nodes.map((n) => n.Node)).toEqual(
      expect.arrayContaining(['test-meshpeer-server-0', 'test-meshpeer-server-1', 'test-meshpeer-server-2']),
    );
  });

  it("lists every server's pod address in a peering token, from whichever server makes it", async () => {
    for (const [k, s] of servers.entries()) {
      let addresses: string[] = [];
      // A server learns of the others through etcd: wait until it knows all three.
      await waitFor(
        `a token from ${s.url} listing three servers`,
        async () => {
          const res = await fetch(`${s.url}/v1/peering/token`, {
            method: 'POST',
            body: JSON.stringify({ PeerName: `cluster-${k}` }),
          });
          if (res.status !== 200) throw new Error(`${res.status}: ${await res.text()}`);
          const { PeeringToken } = (await res.json()) as { PeeringToken: string };
          const token = JSON.parse(Buffer.from(PeeringToken, 'base64').toString('utf8')) as {
            ServerAddresses: string[];
          };
          addresses = [...token.ServerAddresses].sort();
          return addresses.length >= SERVERS;
        },
        () => `${s.logs()}\nlast token addresses: ${addresses.join(', ')}`,
      );
      expect(addresses).toEqual([0, 1, 2].map((i) => `${podIp(i)}:8502`));
    }
  });
});
