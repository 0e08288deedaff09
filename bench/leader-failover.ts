// Leader failover of a highly available cluster: three `meshpeer server` processes on a real 3-member
// etcd cluster (fsync on) peered both ways with a single server. Each round SIGKILLs the leader and
// measures the time until the peer sees both peerings ACTIVE again (the stream it dials reconnected to
// the new leader, and the stream the new leader dials is up), then starts a replacement server so the
// next round again has three. Prints p50/p99 over the rounds, with the lease TTL (default 3 s).
//   npm run build && node dist/bench/leader-failover.js [--rounds 10] [--lease-ttl 3s]
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { startEtcdCluster } from './support/etcd-cluster.js';
import { percentile, runWhenInvokedDirectly } from './support/measure.js';
import { type BenchServer, startBenchServer } from './support/server-process.js';

/** Peering timings short enough that a dead stream shows within a second or two. */
const FAST = [
  '--peering-heartbeat-interval',
  '500ms',
  '--peering-heartbeat-timeout',
  '3s',
  '--peering-redial-max',
  '1s',
];

async function call<T>(url: string, init: RequestInit & { json?: unknown } = {}): Promise<T> {
  const { json, ...rest } = init;
  const res = await fetch(url, {
    ...rest,
    ...(json === undefined
      ? {}
      : { body: JSON.stringify(json), headers: { 'content-type': 'application/json' } }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${url}: ${res.status} ${text}`);
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

async function leaderOf(servers: BenchServer[]): Promise<BenchServer> {
  return until('a leader', async () => {
    for (const s of servers) {
      const raft = await call<{ Servers: Array<{ Leader: boolean; HTTPAddress: string }> }>(
        `${s.url}/v1/operator/raft/configuration`,
      ).catch(() => undefined);
      const address = raft?.Servers.find((x) => x.Leader)?.HTTPAddress;
      const leader = servers.find((x) => x.address === address);
      if (leader !== undefined) return leader;
    }
    return undefined;
  });
}

async function bothActive(peer: BenchServer): Promise<true | undefined> {
  const list = await call<Array<{ Name: string; State: string }>>(`${peer.url}/v1/peerings`);
  const states = new Map(list.map((p) => [p.Name, p.State]));
  return states.get('alpha') === 'ACTIVE' && states.get('alpha-out') === 'ACTIVE' ? true : undefined;
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { rounds: { type: 'string', default: '10' }, 'lease-ttl': { type: 'string', default: '3s' } },
  });
  const rounds = Number(values.rounds);
  const leaseTtl = String(values['lease-ttl']);
  const etcd = await startEtcdCluster({ members: 3, fsync: true });
  const prefix = `/meshpeer-bench/${randomBytes(4).toString('hex')}/`;
  const all: BenchServer[] = [];
  const startAlpha = async (): Promise<BenchServer> => {
    const s = await startBenchServer('alpha', {
      etcd: { endpoints: etcd.endpoints, prefix },
      nodeName: 'alpha-servers',
      extraArgs: [...FAST, '--leader-lease-ttl', leaseTtl],
    });
    all.push(s);
    return s;
  };
  try {
    let alpha = [await startAlpha(), await startAlpha(), await startAlpha()];
    const beta = await startBenchServer('beta', { extraArgs: FAST });
    all.push(beta);
    for (const s of [alpha[0]!, beta]) {
      await call(`${s.url}/v1/catalog/register`, {
        method: 'PUT',
        json: {
          Node: 'gw',
          Address: '127.0.0.1',
          Service: { ID: 'mesh-gateway', Service: 'mesh-gateway', Kind: 'mesh-gateway', Port: 8443 },
        },
      });
    }
    const { PeeringToken: t1 } = await call<{ PeeringToken: string }>(`${alpha[0]!.url}/v1/peering/token`, {
      method: 'POST',
      json: { PeerName: 'beta' },
    });
    await call(`${beta.url}/v1/peering/establish`, {
      method: 'POST',
      json: { PeerName: 'alpha', PeeringToken: t1 },
    });
    const { PeeringToken: t2 } = await call<{ PeeringToken: string }>(`${beta.url}/v1/peering/token`, {
      method: 'POST',
      json: { PeerName: 'alpha-out' },
    });
    await call(`${alpha[1]!.url}/v1/peering/establish`, {
      method: 'POST',
      json: { PeerName: 'beta-out', PeeringToken: t2 },
    });
    await until('both peerings ACTIVE', () => bothActive(beta));

    const samples: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const leader = await leaderOf(alpha);
      const t0 = performance.now();
      await leader.kill();
      alpha = alpha.filter((s) => s !== leader);
      // The peer notices the dead stream at once (the socket closes): wait for it to leave ACTIVE first,
      // so the sample is the whole outage, not a read before the peer noticed.
      await until(
        'the peer to notice',
        async () => ((await bothActive(beta)) ? undefined : true),
        10_000,
      ).catch(() => undefined);
      await until('both peerings ACTIVE again', () => bothActive(beta));
      samples.push(performance.now() - t0);
      alpha.push(await startAlpha());
    }
    const fmt = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
    console.log(
      `leader failover (3 servers on 3-member etcd, lease ${leaseTtl}, ${rounds} SIGKILLs of the leader): ` +
        `both peerings ACTIVE again on the peer after p50 ${fmt(percentile(samples, 0.5))}, ` +
        `p99 ${fmt(percentile(samples, 0.99))} (min ${fmt(Math.min(...samples))}, max ${fmt(Math.max(...samples))})`,
    );
  } finally {
    await Promise.all(all.map((s) => s.stop()));
    await etcd.stop();
  }
}

runWhenInvokedDirectly(import.meta.url, main);
