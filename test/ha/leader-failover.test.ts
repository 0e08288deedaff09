// A highly available cluster: three `meshpeer server` processes on one real 3-member etcd cluster
// ("alpha"), peered both ways with a single server ("beta"). One leader owns the peering streams; the
// others answer the same API. Killing the leader (SIGKILL) in the middle of registration bursts and of a
// live replication stream loses no acknowledged write, and every peering comes back ACTIVE with exact
// imports; losing etcd's majority turns writes into 503s naming etcd while reads go on with
// X-Consul-KnownLeader: false, and everything resumes when etcd is back.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  api,
  Cluster,
  establish,
  eventually,
  exportServices,
  generateToken,
  readPeering,
  registerGateway,
  type ServerProcess,
  waitState,
} from '../peering/helpers.js';
import { type EtcdCluster, startEtcdCluster } from '../support/etcd-cluster.js';

const cluster = new Cluster();
let etcd: EtcdCluster;
let alpha: ServerProcess[] = [];
let beta: ServerProcess;

/** Waits until every server names the same, non-empty leader in /v1/status/leader. */
async function agreedLeader(servers: ServerProcess[]): Promise<string> {
  return eventually(async () => {
    const answers = await Promise.all(
      servers.map(async (s) => (await api<string>(`${s.url}/v1/status/leader`)).body),
    );
    return answers.every((a) => a !== '' && a === answers[0]) ? answers[0] : undefined;
  }, 20_000);
}

/** The server whose logs say it leads now (the last leadership message of each server decides). */
function leading(servers: ServerProcess[]): ServerProcess | undefined {
  const now = servers.filter((s) => {
    const lines = s.logs.filter(
      (l) => l.includes('this server leads') || l.includes('this server does not lead'),
    );
    return lines.at(-1)?.includes('this server leads') === true;
  });
  return now.length === 1 ? now[0] : undefined;
}

async function serviceIds(server: ServerProcess, service: string, peer?: string): Promise<string[]> {
  const q = peer === undefined ? '' : `?peer=${peer}`;
  const r = await api<Array<{ ServiceID: string }>>(`${server.url}/v1/catalog/service/${service}${q}`);
  if (r.status !== 200) throw new Error(`catalog ${service}: ${r.status} ${r.text}`);
  return r.body.map((e) => e.ServiceID).sort();
}

async function registerWeb(server: ServerProcess, id: string): Promise<boolean> {
  try {
    const r = await api(`${server.url}/v1/catalog/register`, {
      method: 'PUT',
      json: {
        Node: 'web-node',
        Address: '10.1.0.1',
        Service: { ID: id, Service: 'web', Port: 8080 },
      },
    });
    return r.status === 200;
  } catch {
    return false; // the server died mid-request: not acknowledged
  }
}

beforeAll(async () => {
  etcd = await startEtcdCluster({ members: 3 });
  const prefix = `/meshpeer-ha/${randomBytes(4).toString('hex')}/`;
  alpha = [];
  for (const i of [0, 1, 2]) {
    alpha.push(
      await cluster.start('alpha', {
        // One agent node for the cluster's servers (as the chart runs them): the agent API acts on the
        // same node whichever server a request reaches.
        nodeName: 'alpha-servers',
        etcd: { endpoints: etcd.endpoints, prefix },
      }),
    );
  }
  beta = await cluster.start('beta');
  await registerGateway(alpha[1]!);
  await registerGateway(beta);
}, 120_000);

afterAll(async () => {
  await cluster.stopAll();
  await etcd?.stop();
});

describe('three servers on etcd', () => {
  it('elect one leader that every server names, and list every server', async () => {
    await agreedLeader(alpha);
    const peers = await api<string[]>(`${alpha[2]!.url}/v1/status/peers`);
    expect(peers.body).toHaveLength(3);
    const leader = await eventually(async () => leading(alpha), 10_000);
    // Consul's raft configuration shape: every server, exactly one leader, the one that runs the streams.
    const raft = await api<{ Servers: Array<{ Leader: boolean; HTTPAddress: string }> }>(
      `${alpha[0]!.url}/v1/operator/raft/configuration`,
    );
    expect(raft.body.Servers).toHaveLength(3);
    expect(raft.body.Servers.filter((s) => s.Leader).map((s) => s.HTTPAddress)).toEqual([leader.httpAddress]);
  });

  it('peer both ways through followers: tokens list every server, the leader runs both streams', async () => {
    const leader = leading(alpha)!;
    const followers = alpha.filter((s) => s !== leader);
    // alpha accepts beta: the token comes from a follower and names all three servers.
    const token = await generateToken(followers[0]!, 'beta');
    const decoded = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as {
      ServerAddresses: string[];
    };
    expect(new Set(decoded.ServerAddresses)).toEqual(new Set(alpha.map((s) => s.grpcAddress)));
    expect((await establish(beta, 'alpha', token)).status).toBe(200);
    // alpha dials beta: established through the other follower; the leader starts the dialer.
    const betaToken = await generateToken(beta, 'alpha-out');
    expect((await establish(followers[1]!, 'beta-out', betaToken)).status).toBe(200);

    await waitState(beta, 'alpha', 'ACTIVE', 20_000);
    await waitState(beta, 'alpha-out', 'ACTIVE', 20_000);
    // Every server of alpha shows the same ACTIVE peerings (the leader publishes its streams' status).
    for (const s of alpha) {
      await waitState(s, 'beta', 'ACTIVE', 20_000);
      await waitState(s, 'beta-out', 'ACTIVE', 20_000);
    }
    // A follower turns a peering stream away, naming the leader.
    expect(followers[0]!.logs.join('\n')).not.toContain('accepted a peering stream');
    expect(leader.logs.join('\n')).toContain('accepted a peering stream');

    await exportServices(followers[0]!, { web: ['beta'] });
    await exportServices(beta, { db: ['alpha-out'] });
    for (const id of ['web-a', 'web-b']) expect(await registerWeb(followers[1]!, id)).toBe(true);
    const dbReg = await api(`${beta.url}/v1/catalog/register`, {
      method: 'PUT',
      json: { Node: 'db-node', Address: '10.2.0.1', Service: { ID: 'db-1', Service: 'db', Port: 5432 } },
    });
    expect(dbReg.status).toBe(200);
    await eventually(async () => (await serviceIds(beta, 'web', 'alpha')).join() === 'web-a,web-b', 20_000);
    for (const s of alpha)
      await eventually(async () => (await serviceIds(s, 'db', 'beta-out')).join() === 'db-1', 20_000);
  });

  it('keep a TTL check registered through one server alive with renewals through another, and expire it when they stop', async () => {
    const reg = await api(`${alpha[0]!.url}/v1/agent/check/register`, {
      method: 'PUT',
      json: { Name: 'heartbeat', CheckID: 'heartbeat', TTL: '3s', Status: 'passing' },
    });
    expect(reg.status).toBe(200);
    const status = async (s: ServerProcess): Promise<{ Status: string; Output: string } | undefined> => {
      const r = await api<Array<{ CheckID: string; Status: string; Output: string }>>(
        `${s.url}/v1/health/node/alpha-servers`,
      );
      return r.body.find((c) => c.CheckID === 'heartbeat');
    };
    // Renewed through another server for twice its TTL: still passing everywhere.
    const until = Date.now() + 6_000;
    while (Date.now() < until) {
      expect((await api(`${alpha[1]!.url}/v1/agent/check/pass/heartbeat`, { method: 'PUT' })).status).toBe(
        200,
      );
      await new Promise((r) => setTimeout(r, 300));
    }
    for (const s of alpha) expect((await status(s))?.Status).toBe('passing');
    // No more renewals: critical with Consul's output, as every server shows.
    for (const s of alpha)
      await eventually(async () => (await status(s))?.Output.startsWith('TTL expired') === true, 15_000);
    await api(`${alpha[2]!.url}/v1/agent/check/deregister/heartbeat`, { method: 'PUT' });
  });

  it('lose no acknowledged write and come back ACTIVE with exact imports when the leader is killed', async () => {
    const leader = leading(alpha)!;
    const survivors = alpha.filter((s) => s !== leader);
    const acked: string[] = [];
    let killedAt = 0;
    const burst = async (server: ServerProcess, tag: string, n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        const id = `web-${tag}-${i}`;
        if (await registerWeb(server, id)) acked.push(id);
        if (tag === 'leader' && i === 40) {
          killedAt = Date.now();
          void leader.kill();
        }
        if (tag === 'leader' && killedAt > 0) return; // the server is gone
      }
    };
    await Promise.all([burst(leader, 'leader', 200), burst(survivors[0]!, 'follower', 120)]);
    await leader.kill();
    expect(killedAt).toBeGreaterThan(0);

    // A new leader among the survivors; both peerings ACTIVE again on both sides.
    const next = await eventually(async () => leading(survivors), 20_000);
    expect(next).not.toBe(leader);
    await waitState(beta, 'alpha', 'ACTIVE', 30_000);
    await waitState(beta, 'alpha-out', 'ACTIVE', 30_000);
    const recovered = Date.now() - killedAt;
    for (const s of survivors) {
      await waitState(s, 'beta', 'ACTIVE', 30_000);
      await waitState(s, 'beta-out', 'ACTIVE', 30_000);
    }
    console.log(`leader killed: peerings ACTIVE again on the peer after ${recovered} ms`);

    // Every acknowledged registration is on every surviving server, and beta imports exactly alpha's web.
    for (const s of survivors) {
      const ids = new Set(await serviceIds(s, 'web'));
      expect(acked.filter((id) => !ids.has(id))).toEqual([]);
    }
    const truth = await serviceIds(survivors[0]!, 'web');
    expect(await serviceIds(survivors[1]!, 'web')).toEqual(truth);
    await eventually(async () => (await serviceIds(beta, 'web', 'alpha')).join() === truth.join(), 20_000);
    // The import in the other direction survived too, and keeps following changes.
    await api(`${beta.url}/v1/catalog/register`, {
      method: 'PUT',
      json: { Node: 'db-node', Address: '10.2.0.1', Service: { ID: 'db-2', Service: 'db', Port: 5432 } },
    });
    for (const s of survivors)
      await eventually(async () => (await serviceIds(s, 'db', 'beta-out')).join() === 'db-1,db-2', 20_000);
    alpha = survivors;
  });

  it('go on under the same leader while one etcd member of three is down', async () => {
    const leader = leading(alpha)!;
    await etcd.stopMember(0);
    try {
      for (const [i, s] of alpha.entries()) expect(await registerWeb(s, `web-one-down-${i}`)).toBe(true);
      await eventually(
        async () =>
          (await serviceIds(beta, 'web', 'alpha')).filter((id) => id.startsWith('web-one-down')).length ===
          alpha.length,
        20_000,
      );
      for (const name of ['alpha', 'alpha-out'])
        expect((await readPeering(beta, name))?.State).toBe('ACTIVE');
      expect(leading(alpha)).toBe(leader);
    } finally {
      await etcd.startMember(0);
    }
    await etcd.waitHealthy();
  });

  it('hand the leadership over when the leader is stopped (it resigns)', async () => {
    const leader = leading(alpha)!;
    await leader.stop();
    alpha = alpha.filter((s) => s !== leader);
    expect(leader.logs.join('\n')).toContain('server stopped');
    await eventually(async () => leading(alpha), 20_000);
    await waitState(beta, 'alpha', 'ACTIVE', 30_000);
    await waitState(beta, 'alpha-out', 'ACTIVE', 30_000);
  });

  it('answers writes 503 naming etcd and reads with X-Consul-KnownLeader false without etcd quorum, then resumes', async () => {
    await etcd.stopMember(1);
    await etcd.stopMember(2);
    try {
      const s = alpha[0]!;
      const write = await eventually(async () => {
        const r = await api(`${s.url}/v1/catalog/register`, {
          method: 'PUT',
          json: {
            Node: 'web-node',
            Address: '10.1.0.1',
            Service: { ID: 'web-dark', Service: 'web', Port: 1 },
          },
        });
        return r.status === 503 ? r : undefined;
      }, 30_000);
      expect(write.text).toContain('etcd');
      const read = await eventually(async () => {
        const r = await api(`${s.url}/v1/catalog/services`);
        return r.status === 200 && r.headers.get('x-consul-knownleader') === 'false' ? r : undefined;
      }, 20_000);
      expect(Number(read.headers.get('x-consul-lastcontact'))).toBeGreaterThan(1000);
      // The leader cut off from etcd stops running the streams: the peer sees them fail.
      await waitState(beta, 'alpha', 'FAILING', 20_000);
      expect(leading(alpha)).toBeUndefined();
    } finally {
      await etcd.startMember(1);
      await etcd.startMember(2);
    }
    await etcd.waitHealthy();
    for (const s of alpha) {
      await eventually(async () => {
        const r = await api(`${s.url}/v1/catalog/services`);
        return r.headers.get('x-consul-knownleader') === 'true';
      }, 30_000);
    }
    expect(await registerWeb(alpha.at(-1)!, 'web-after')).toBe(true);
    await waitState(beta, 'alpha', 'ACTIVE', 30_000);
    await waitState(beta, 'alpha-out', 'ACTIVE', 30_000);
    await eventually(async () => (await serviceIds(beta, 'web', 'alpha')).includes('web-after'), 20_000);
  });
});
