// Cluster-peering benchmark against real `meshpeer server` processes (SQLite store, default peering
// settings) on loopback:
//   1. establish → ACTIVE on both sides, p50 of 20 new peerings;
//   2. replication latency: a registration on the exporter until the importer's blocking query returns
//      it, p50/p99 over 1,000 updates (small catalog), and again with 30,000 instances exported;
//   3. initial sync of 10,000 exported services × 3 instances: seconds, RSS of both servers;
//   4. CPU of 100 idle peerings over 10 s (both servers).
//   npm run build && node dist/bench/peering.js [--services 10000] [--updates 1000]

import * as http from 'node:http';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { cpuTimeMs, percentile, processMemory, runWhenInvokedDirectly } from './support/measure.js';
import { type BenchServer, startBenchServer } from './support/server-process.js';

const _CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const MiB = 1024 * 1024;

const TARGETS = {
  activeP50Ms: 200,
  replicationP99Ms: 50,
  syncSeconds: 5,
  rssMiB: 300,
};

export interface PeeringBenchOptions {
  services?: number;
  instancesPerService?: number;
  updates?: number;
  bigCatalogUpdates?: number;
  establishments?: number;
  idlePeerings?: number;
  idleSeconds?: number;
}

export interface PeeringBenchResult {
  active: { samples: number; p50Ms: number; p99Ms: number; dialerP50Ms: number };
  replication: Latency;
  replicationBigCatalog: Latency;
  sync: {
    services: number;
    instances: number;
    seconds: number;
    exporterRssMiB: number;
    importerRssMiB: number;
    exporterPeakMiB: number;
    importerPeakMiB: number;
  };
  idle: { peerings: number; seconds: number; acceptorCpuPercent: number; dialerCpuPercent: number };
}

interface Latency {
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  timeouts: number;
}

export async function main(options: PeeringBenchOptions = {}): Promise<PeeringBenchResult> {
  const args = parseArgs(process.argv.slice(2));
  const services = options.services ?? args.services ?? 10_000;
  const perService = options.instancesPerService ?? 3;
  const updates = options.updates ?? args.updates ?? 1000;
  const bigUpdates = options.bigCatalogUpdates ?? 200;
  const establishments = options.establishments ?? 20;
  const idlePeerings = options.idlePeerings ?? 100;
  const idleSeconds = options.idleSeconds ?? 10;

  const servers: BenchServer[] = [];
  const start = async (dc: string): Promise<BenchServer> => {
    const s = await startBenchServer(dc);
    servers.push(s);
    return s;
  };
  try {
    // 1 + 2: a pair of servers, 20 peerings, then replication latency over the first.
    const [a, b] = await Promise.all([start('bench-a'), start('bench-b')]);
    const activeSamples: number[] = [];
    const dialerSamples: number[] = [];
    for (let i = 0; i < establishments; i++) {
      const { both, dialer } = await establishAndWait(a, b, `a-${i}`, `b-${i}`);
      activeSamples.push(both);
      dialerSamples.push(dialer);
    }
    const active = {
      samples: activeSamples.length,
      p50Ms: percentile(activeSamples, 0.5),
      p99Ms: percentile(activeSamples, 0.99),
      dialerP50Ms: percentile(dialerSamples, 0.5),
    };
    progress(`ACTIVE: p50 ${active.p50Ms.toFixed(1)} ms over ${active.samples}`);

    await registerGateway(a);
    for (let i = 0; i < 10; i++) await register(a, instance(`small-${i}`, 0, 'n-0'));
    await putExports(a, [{ Name: '*', Consumers: [{ Peer: 'b-0' }] }]);
    const replication = await replicationLatency(a, b, 'a-0', 'lat', updates);
    progress(`replication: p50 ${replication.p50Ms.toFixed(2)} ms, p99 ${replication.p99Ms.toFixed(2)} ms`);
    await Promise.all([a.stop(), b.stop()]);

    // 3: initial sync of services × instances.
    const [exp, imp] = await Promise.all([start('bench-exporter'), start('bench-importer')]);
    await registerGateway(exp);
    const regStart = performance.now();
    const total = services * perService;
    await drive(exp, total, 32, (i) => {
      const s = Math.floor(i / perService);
      return instance(`svc-${String(s).padStart(5, '0')}`, i % perService, `node-${i % 300}`);
    });
    progress(`registered ${total} instances in ${((performance.now() - regStart) / 1000).toFixed(1)} s`);
    await putExports(exp, [{ Name: '*', Consumers: [{ Peer: 'importer' }] }]);
    const token = await generateToken(exp, 'importer');
    const syncStart = performance.now();
    await establish(imp, 'exporter', token);
    // Services are sent in name order: a blocking query on the last one returns when the sync is done
    // (polling the peering, O(imported instances) per read, would slow the importer it measures).
    const last = `svc-${String(services - 1).padStart(5, '0')}`;
    let index = 0;
    const syncDeadline = Date.now() + 120_000;
    for (;;) {
      if (Date.now() > syncDeadline) throw new Error('initial sync: not done in 120 s');
      const r = await getJson<unknown[]>(
        imp,
        `/v1/health/service/${last}?peer=exporter&index=${index}&wait=10s`,
      );
      if (r.body.length === perService) break;
      index = r.index;
    }
    const syncSeconds = (performance.now() - syncStart) / 1000;
    const imported = await getJson<Peering>(imp, '/v1/peering/exporter');
    if (imported.body.StreamStatus.ImportedServices.length !== services) {
      throw new Error(
        `${imported.body.StreamStatus.ImportedServices.length} of ${services} services imported`,
      );
    }
    // Every instance arrived (spot checks across the range).
    for (const s of [0, Math.floor(services / 2), services - 1]) {
      const name = `svc-${String(s).padStart(5, '0')}`;
      const h = await getJson<unknown[]>(imp, `/v1/health/service/${name}?peer=exporter`);
      if (h.body.length !== perService) throw new Error(`${name}: ${h.body.length} instances imported`);
    }
    const sync = {
      services,
      instances: total,
      seconds: syncSeconds,
      exporterRssMiB: rss(exp.pid).rss / MiB,
      importerRssMiB: rss(imp.pid).rss / MiB,
      exporterPeakMiB: rss(exp.pid).peak / MiB,
      importerPeakMiB: rss(imp.pid).peak / MiB,
    };
    progress(`sync: ${syncSeconds.toFixed(2)} s`);

    const replicationBigCatalog = await replicationLatency(exp, imp, 'exporter', 'svc-00000', bigUpdates);
    progress(
      `replication at ${total} instances: p50 ${replicationBigCatalog.p50Ms.toFixed(2)} ms, p99 ${replicationBigCatalog.p99Ms.toFixed(2)} ms`,
    );
    await Promise.all([exp.stop(), imp.stop()]);

    // 4: idle peerings.
    const [acc, dial] = await Promise.all([start('bench-idle-acc'), start('bench-idle-dial')]);
    for (let i = 0; i < idlePeerings; i += 10) {
      await Promise.all(
        Array.from({ length: Math.min(10, idlePeerings - i) }, (_, k) =>
          establishAndWait(acc, dial, `acc-${i + k}`, `dial-${i + k}`),
        ),
      );
    }
    await sleep(1000);
    const cpu0 = [cpuTimeMs(acc.pid), cpuTimeMs(dial.pid)];
    const t0 = performance.now();
    await sleep(idleSeconds * 1000);
    const elapsed = performance.now() - t0;
    const cpu1 = [cpuTimeMs(acc.pid), cpuTimeMs(dial.pid)];
    const idle = {
      peerings: idlePeerings,
      seconds: elapsed / 1000,
      acceptorCpuPercent: ((cpu1[0]! - cpu0[0]!) / elapsed) * 100,
      dialerCpuPercent: ((cpu1[1]! - cpu0[1]!) / elapsed) * 100,
    };
    const list = await getJson<Peering[]>(acc, '/v1/peerings');
    const notActive = list.body.filter((p) => p.State !== 'ACTIVE').length;
    if (notActive > 0) throw new Error(`${notActive} of ${idlePeerings} idle peerings are not ACTIVE`);

    const result: PeeringBenchResult = { active, replication, replicationBigCatalog, sync, idle };
    print(result);
    return result;
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

// ---- phases ----

async function establishAndWait(
  acceptor: BenchServer,
  dialer: BenchServer,
  acceptorName: string,
  dialerName: string,
): Promise<{ both: number; dialer: number }> {
  const token = await generateToken(acceptor, dialerName);
  const t0 = performance.now();
  await establish(dialer, acceptorName, token);
  const waitActive = async (s: BenchServer, name: string): Promise<number> => {
    await waitFor(
      async () => (await getJson<Peering>(s, `/v1/peering/${name}`)).body.State === 'ACTIVE',
      20_000,
      2,
      `${name} ACTIVE`,
    );
    return performance.now() - t0;
  };
  const [d, a] = await Promise.all([waitActive(dialer, acceptorName), waitActive(acceptor, dialerName)]);
  return { both: Math.max(d, a), dialer: d };
}

/**
 * Re-registers one exported instance with a new Meta value `updates` times; each time, measures from
 * the registration request until a blocking query on the importer returns the new value.
 */
async function replicationLatency(
  exporter: BenchServer,
  importer: BenchServer,
  peerName: string,
  service: string,
  updates: number,
): Promise<Latency> {
  const path = `/v1/health/service/${service}?peer=${peerName}`;
  await register(exporter, {
    ...instance(service, 0, 'lat-node'),
    Service: { ...instance(service, 0, 'lat-node').Service, Meta: { seq: '-1' } },
  });
  await waitFor(
    async () => seqOf((await getJson<HealthEntry[]>(importer, path)).body) === '-1',
    20_000,
    20,
    'first update',
  );
  const samples: number[] = [];
  let timeouts = 0;
  const deadline = Date.now() + 120_000;
  for (let i = 0; i < updates && Date.now() < deadline; i++) {
    const current = await getJson<HealthEntry[]>(importer, path);
    let index = current.index;
    const body = instance(service, 0, 'lat-node');
    body.Service.Meta = { seq: String(i) };
    const t0 = performance.now();
    // The blocking query is sent first, then the registration.
    let pending = getJson<HealthEntry[]>(importer, `${path}&index=${index}&wait=5s`);
    await register(exporter, body);
    let seen = false;
    for (let round = 0; round < 10 && !seen; round++) {
      const r = await pending;
      if (seqOf(r.body) === String(i)) {
        seen = true;
        break;
      }
      if (r.index === index) break; // timed out without the change
      index = r.index;
      pending = getJson<HealthEntry[]>(importer, `${path}&index=${index}&wait=5s`);
    }
    if (seen) samples.push(performance.now() - t0);
    else timeouts++;
  }
  return {
    samples: samples.length,
    p50Ms: percentile(samples, 0.5),
    p99Ms: percentile(samples, 0.99),
    maxMs: Math.max(...samples),
    timeouts,
  };
}

function seqOf(entries: HealthEntry[]): string | undefined {
  return entries[0]?.Service.Meta.seq;
}

// ---- HTTP ----

interface Peering {
  Name: string;
  State: string;
  StreamStatus: { ImportedServices: string[] };
}

interface HealthEntry {
  Service: { ID: string; Meta: Record<string, string> };
}

interface Registration {
  Node: string;
  Address: string;
  Service: {
    ID: string;
    Service: string;
    Port: number;
    Address: string;
    Meta?: Record<string, string>;
    Kind?: string;
  };
  Checks?: Array<{ CheckID: string; Name: string; Status: string; ServiceID: string }>;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function request(
  server: BenchServer,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; text: string; index: number }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request(
      {
        host: server.host,
        port: server.port,
        method,
        path,
        agent,
        headers: data ? { 'content-type': 'application/json', 'content-length': data.length } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            text: Buffer.concat(chunks).toString('utf8'),
            index: Number(res.headers['x-consul-index'] ?? 0),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(60_000, () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.end(data);
  });
}

async function call(server: BenchServer, method: string, path: string, body?: unknown): Promise<string> {
  const r = await request(server, method, path, body);
  if (r.status !== 200) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
  return r.text;
}

async function getJson<T>(server: BenchServer, path: string): Promise<{ body: T; index: number }> {
  const r = await request(server, 'GET', path);
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${r.text}`);
  return { body: JSON.parse(r.text) as T, index: r.index };
}

async function generateToken(server: BenchServer, peerName: string): Promise<string> {
  const text = await call(server, 'POST', '/v1/peering/token', { PeerName: peerName });
  return (JSON.parse(text) as { PeeringToken: string }).PeeringToken;
}

async function establish(server: BenchServer, peerName: string, token: string): Promise<void> {
  await call(server, 'POST', '/v1/peering/establish', { PeerName: peerName, PeeringToken: token });
}

function instance(service: string, n: number, node: string): Registration {
  const id = `${service}-${n}`;
  return {
    Node: node,
    Address: '10.0.0.1',
    Service: { ID: id, Service: service, Port: 8080 + n, Address: '10.0.0.1' },
    Checks: [{ CheckID: `check:${id}`, Name: 'alive', Status: 'passing', ServiceID: id }],
  };
}

async function register(server: BenchServer, r: Registration): Promise<void> {
  await call(server, 'PUT', '/v1/catalog/register', r);
}

async function registerGateway(server: BenchServer): Promise<void> {
  await register(server, {
    Node: 'gateway-node',
    Address: '127.0.0.1',
    Service: {
      ID: 'mesh-gateway',
      Service: 'mesh-gateway',
      Kind: 'mesh-gateway',
      Port: 8443,
      Address: '127.0.0.1',
    },
  });
}

async function putExports(server: BenchServer, services: unknown[]): Promise<void> {
  await call(server, 'PUT', '/v1/config', { Kind: 'exported-services', Name: 'default', Services: services });
}

/** Runs `count` registrations with `concurrency` in flight. */
async function drive(
  server: BenchServer,
  count: number,
  concurrency: number,
  make: (i: number) => Registration,
): Promise<void> {
  let next = 0;
  const deadline = Date.now() + 300_000;
  const worker = async (): Promise<void> => {
    while (next < count) {
      if (Date.now() > deadline) throw new Error('registrations took more than 300 s');
      const i = next++;
      await register(server, make(i));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

async function waitFor(
  fn: () => Promise<boolean>,
  timeoutMs: number,
  stepMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn()) return;
    await sleep(stepMs);
  }
  throw new Error(`${what}: not reached in ${timeoutMs} ms`);
}

// ---- the server processes ----

const rss = processMemory;

// ---- output ----

function progress(text: string): void {
  process.stderr.write(`  … ${text}\n`);
}

function print(r: PeeringBenchResult): void {
  const f = (n: number, d = 1): string => n.toLocaleString('en-US', { maximumFractionDigits: d });
  const check = (ok: boolean): string => (ok ? 'met' : 'MISSED');
  const peak = Math.max(r.sync.exporterPeakMiB, r.sync.importerPeakMiB);
  const lines = [
    'cluster peering: two meshpeer servers (SQLite store, default peering settings) on loopback',
    `establish → ACTIVE on both sides (n=${r.active.samples}): p50 ${f(r.active.p50Ms)} ms, p99 ${f(r.active.p99Ms)} ms (dialer side p50 ${f(r.active.dialerP50Ms)} ms)`,
    `replication, registration → importer blocking query (n=${r.replication.samples}, 10 services): p50 ${f(r.replication.p50Ms, 2)} ms, p99 ${f(r.replication.p99Ms, 2)} ms, max ${f(r.replication.maxMs, 2)} ms, missed ${r.replication.timeouts}`,
    `replication with ${f(r.sync.instances, 0)} instances exported (n=${r.replicationBigCatalog.samples}): p50 ${f(r.replicationBigCatalog.p50Ms, 2)} ms, p99 ${f(r.replicationBigCatalog.p99Ms, 2)} ms, max ${f(r.replicationBigCatalog.maxMs, 2)} ms, missed ${r.replicationBigCatalog.timeouts}`,
    `initial sync of ${f(r.sync.services, 0)} services × ${f(r.sync.instances / r.sync.services, 0)} instances: ${f(r.sync.seconds, 2)} s; RSS exporter ${f(r.sync.exporterRssMiB)} MiB (peak ${f(r.sync.exporterPeakMiB)}), importer ${f(r.sync.importerRssMiB)} MiB (peak ${f(r.sync.importerPeakMiB)})`,
    `${r.idle.peerings} idle peerings over ${f(r.idle.seconds)} s: acceptor ${f(r.idle.acceptorCpuPercent, 2)}% of a core, dialer ${f(r.idle.dialerCpuPercent, 2)}%`,
    'targets:',
    `  ACTIVE p50 < ${TARGETS.activeP50Ms} ms: ${f(r.active.p50Ms)} ms — ${check(r.active.p50Ms < TARGETS.activeP50Ms)}`,
    `  replication p99 < ${TARGETS.replicationP99Ms} ms: ${f(r.replication.p99Ms, 2)} ms — ${check(r.replication.p99Ms < TARGETS.replicationP99Ms && r.replication.timeouts === 0)}` +
      ` (with ${f(r.sync.instances, 0)} instances exported: ${f(r.replicationBigCatalog.p99Ms, 2)} ms — ${check(r.replicationBigCatalog.p99Ms < TARGETS.replicationP99Ms && r.replicationBigCatalog.timeouts === 0)})`,
    `  ${f(r.sync.instances, 0)}-instance sync < ${TARGETS.syncSeconds} s: ${f(r.sync.seconds, 2)} s — ${check(r.sync.seconds < TARGETS.syncSeconds)}`,
    `  RSS < ${TARGETS.rssMiB} MB per server (peak): ${f(peak)} MiB — ${check(peak * MiB < TARGETS.rssMiB * 1e6)}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

function parseArgs(argv: string[]): { services?: number; updates?: number } {
  const out: { services?: number; updates?: number } = {};
  for (let i = 0; i < argv.length; i++) {
    const v = Number(argv[i + 1]);
    if (argv[i] === '--services' && Number.isFinite(v)) out.services = v;
    if (argv[i] === '--updates' && Number.isFinite(v)) out.updates = v;
  }
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

runWhenInvokedDirectly(import.meta.url, main);
