// Two `meshpeer server` processes with --store etcd on one real 3-member etcd cluster: a registration
// through one server answers a blocking query waiting on the other, with the same X-Consul-Index.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EtcdCluster, startEtcdCluster } from '../support/etcd-cluster.js';
import { api, CLI } from '../support/meshpeer-process.js';

interface Server {
  url: string;
  logs: string[];
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
}

const running: Server[] = [];
let etcd: EtcdCluster;

beforeAll(async () => {
  etcd = await startEtcdCluster({ members: 3 });
});

afterAll(async () => {
  for (const s of running.splice(0)) await s.stop();
  await etcd?.stop();
});

function runCli(args: string[]): { child: ChildProcess; logs: string[]; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MESHPEER_LOG_LEVEL: 'info' },
  });
  const logs: string[] = [];
  child.stdout?.on('data', (c: Buffer) => logs.push(c.toString()));
  child.stderr?.on('data', (c: Buffer) => logs.push(c.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, logs, exited };
}

async function startEtcdServer(node: string, prefix: string): Promise<Server> {
  const { child, logs, exited } = runCli([
    'server',
    '--http-addr',
    '127.0.0.1:0',
    '--grpc-addr',
    '127.0.0.1:0',
    '--node-name',
    node,
    '--store',
    'etcd',
    '--etcd-endpoints',
    etcd.endpoints.join(','),
    '--etcd-prefix',
    prefix,
  ]);
  const server: Server = {
    url: '',
    logs,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
  running.push(server);
  const http = await new Promise<string>((resolve, reject) => {
    const check = (): void => {
      for (const line of logs.join('').split('\n')) {
        try {
          const rec = JSON.parse(line) as { msg?: string; httpAddress?: string };
          if (rec.msg === 'server ready' && rec.httpAddress) {
            resolve(rec.httpAddress);
            return;
          }
        } catch {
          // not a JSON line (yet)
        }
      }
    };
    child.stderr?.on('data', check);
    void exited.then((code) => reject(new Error(`server exited ${code} before ready:\n${logs.join('')}`)));
  });
  server.url = `http://${http}`;
  return server;
}

describe('meshpeer servers on etcd', () => {
  it('a registration through one server wakes a blocking query on the other', async () => {
    const prefix = `/meshpeer-test/${randomBytes(4).toString('hex')}/`;
    const a = await startEtcdServer('server-a', prefix);
    const b = await startEtcdServer('server-b', prefix);
    const before = await api<unknown[]>(`${b.url}/v1/catalog/service/web`);
    expect(before.body).toEqual([]);
    const blocked = api<Array<{ ServiceID: string }>>(
      `${b.url}/v1/catalog/service/web?index=${before.index}&wait=60s`,
    );
    const reg = await api(`${a.url}/v1/catalog/register`, {
      json: { Node: 'n1', Address: '10.0.0.1', Service: { ID: 'web-1', Service: 'web', Port: 80 } },
    });
    expect(reg.status).toBe(200);
    const woken = await blocked;
    expect(woken.body.map((s) => s.ServiceID)).toEqual(['web-1']);
    const onA = await api(`${a.url}/v1/catalog/service/web`);
    expect(woken.index).toBeGreaterThan(before.index);
    expect(onA.index).toBe(woken.index);
    // Both servers' own nodes are in the one shared catalog.
    const nodes = await api<Array<{ Node: string }>>(`${a.url}/v1/catalog/nodes`);
    expect(nodes.body.map((n) => n.Node)).toEqual(expect.arrayContaining(['server-a', 'server-b', 'n1']));
    // A clean stop: the store's watch and etcd client close with the server.
    expect(await a.stop()).toBe(0);
    expect(await b.stop()).toBe(0);
  });

  it('answers writes 503 naming etcd while etcd has no quorum, keeps serving reads, and recovers', async () => {
    const prefix = `/meshpeer-test/${randomBytes(4).toString('hex')}/`;
    const a = await startEtcdServer('server-q', prefix);
    const register = (id: string) =>
      api(`${a.url}/v1/catalog/register`, {
        json: { Node: 'n2', Address: '10.0.0.2', Service: { ID: id, Service: 'api', Port: 81 } },
      });
    expect((await register('api-1')).status).toBe(200);
    await etcd.stopMember(1);
    await etcd.stopMember(2);
    try {
      const refused = await register('api-2');
      expect(refused.status).toBe(503);
      expect(refused.text).toMatch(/etcd \(http:\/\/127\.0\.0\.1:\d+.*\) did not commit the write/);
      const read = await api<Array<{ ServiceID: string }>>(`${a.url}/v1/catalog/service/api`);
      expect(read.status).toBe(200);
      expect(read.body.map((x) => x.ServiceID)).toContain('api-1');
    } finally {
      await etcd.startMember(1);
      await etcd.startMember(2);
      await etcd.waitHealthy();
    }
    let status = 0;
    for (let i = 0; i < 10 && status !== 200; i++) status = (await register('api-3')).status;
    expect(status).toBe(200);
    expect(await a.stop()).toBe(0);
  });

  it('refuses --store etcd without endpoints, naming the flag', async () => {
    const { logs, exited } = runCli(['server', '--store', 'etcd']);
    expect(await exited).not.toBe(0);
    expect(logs.join('')).toContain('--store etcd needs --etcd-endpoints');
  });

  it('exits with an error naming etcd when no member answers at start', async () => {
    const closed = new net.Server();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const { logs, exited } = runCli([
      ...['server', '--http-addr', '127.0.0.1:0', '--grpc-addr', '127.0.0.1:0'],
      ...['--store', 'etcd', '--etcd-endpoints', `http://127.0.0.1:${port}`],
    ]);
    expect(await exited).not.toBe(0);
    expect(logs.join('')).toContain(`etcd (http://127.0.0.1:${port}) did not answer a read`);
  });
});
