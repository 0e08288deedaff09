// Replication under sustained churn, between two real servers:
//   1. convergence lag while the exporter churns at rising rates: every 250 ms a probe instance changes
//      its port on the exporter, and a blocking query on the importer times its arrival (p50/p99 per
//      rate); the highest rate whose p99 stays under 1 s is the sustained-churn figure;
//   2. both servers' RSS over a long churn at a fixed rate (5 minutes by default), sampled every 10 s,
//      and whether the importer then holds exactly the export.
// Durations: MESHPEER_BENCH_CHURN_STEP_S (per rate, default 15), MESHPEER_BENCH_CHURN_SOAK_S (default 300).
import { churn, divergence, writeExports } from './support/churn.js';
import { percentile, processMemory, runWhenInvokedDirectly } from './support/measure.js';
import { type BenchServer, startBenchServer } from './support/server-process.js';

const SERVICES = 50;
const RATES = [100, 200, 400, 800, 1600];
const PROBE = 'probe';

export interface ChurnBenchResult {
  steps: Array<{
    targetRate: number;
    achievedRate: number;
    lagP50Ms: number;
    lagP99Ms: number;
    samples: number;
  }>;
  sustainedRate: number;
  soak: {
    seconds: number;
    rate: number;
    rssMiB: Array<{ atS: number; exporter: number; importer: number }>;
    exact: boolean;
  };
}

async function put(s: BenchServer, path: string, body: unknown): Promise<void> {
  const r = await fetch(`${s.url}${path}`, { method: 'PUT', body: JSON.stringify(body) });
  await r.arrayBuffer();
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
}

async function post<T>(s: BenchServer, path: string, body: unknown): Promise<T> {
  const r = await fetch(`${s.url}${path}`, { method: 'POST', body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

async function peer(exporter: BenchServer, importer: BenchServer): Promise<void> {
  const { PeeringToken } = await post<{ PeeringToken: string }>(exporter, '/v1/peering/token', {
    PeerName: 'importer',
  });
  await post(importer, '/v1/peering/establish', { PeerName: 'exporter', PeeringToken });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const r = await fetch(`${importer.url}/v1/peering/exporter`);
    if (r.ok && ((await r.json()) as { State: string }).State === 'ACTIVE') return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error('peering did not become ACTIVE in 30 s');
}

/**
 * Times how long each probe change takes to reach the importer, while something else churns: the probe
 * instance's port is the change's sequence number; a blocking query on the importer sees it arrive.
 */
function probeLag(exporter: BenchServer, importer: BenchServer): { stop(): Promise<number[]> } {
  const sentAt = new Map<number, number>();
  const lags: number[] = [];
  let seq = 0;
  let running = true;
  const writer = (async () => {
    while (running) {
      const n = ++seq;
      sentAt.set(n, performance.now());
      await put(exporter, '/v1/catalog/register', {
        Node: 'probe-node',
        Address: '10.3.0.1',
        Service: { ID: PROBE, Service: PROBE, Port: 10_000 + (n % 50_000) },
      }).catch(() => sentAt.delete(n));
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  const reader = (async () => {
    let index = 0;
    let seen = 0;
    while (running) {
      try {
        const r = await fetch(
          `${importer.url}/v1/health/service/${PROBE}?peer=exporter&index=${index}&wait=2s`,
        );
        index = Number(r.headers.get('x-consul-index') ?? index);
        const body = (await r.json()) as Array<{ Service: { Port: number } }>;
        const port = body[0]?.Service.Port;
        if (port === undefined) continue;
        const now = performance.now();
        const n = [...sentAt.keys()].find((k) => k > seen && 10_000 + (k % 50_000) === port);
        if (n === undefined) continue;
        // Every change up to n is now visible (each overwrote the one before).
        for (const [m, at] of sentAt) {
          if (m > n) continue;
          lags.push(now - at);
          sentAt.delete(m);
        }
        seen = n;
      } catch {
        await new Promise((res) => setTimeout(res, 100));
      }
    }
  })();
  return {
    async stop() {
      running = false;
      await Promise.all([writer, reader]);
      return lags;
    },
  };
}

export async function main(): Promise<ChurnBenchResult> {
  const stepSeconds = Number(process.env.MESHPEER_BENCH_CHURN_STEP_S ?? 15);
  const soakSeconds = Number(process.env.MESHPEER_BENCH_CHURN_SOAK_S ?? 300);
  const servers: BenchServer[] = [];
  try {
    const [exporter, importer] = await Promise.all([
      startBenchServer('churn-exporter'),
      startBenchServer('churn-importer'),
    ]);
    servers.push(exporter, importer);
    await peer(exporter, importer);
    const services = Array.from({ length: SERVICES }, (_, i) => `svc${i}`);
    await writeExports(exporter.url, 'importer', [...services, PROBE]);

    const steps: ChurnBenchResult['steps'] = [];
    for (const rate of RATES) {
      const probe = probeLag(exporter, importer);
      const r = await churn({
        url: exporter.url,
        consumer: 'importer',
        seconds: stepSeconds,
        rate,
        services: SERVICES,
        idsPerService: 30,
        keepExported: [PROBE],
      });
      const lags = await probe.stop();
      const step = {
        targetRate: rate,
        achievedRate: Math.round(r.ops / stepSeconds),
        lagP50Ms: percentile(lags, 0.5),
        lagP99Ms: percentile(lags, 0.99),
        samples: lags.length,
      };
      steps.push(step);
      process.stdout.write(
        `churn ${rate}/s (achieved ${step.achievedRate}/s): lag p50 ${step.lagP50Ms.toFixed(1)} ms, p99 ${step.lagP99Ms.toFixed(1)} ms over ${step.samples} probes\n`,
      );
    }
    const sustained = steps
      .filter((s) => s.lagP99Ms < 1000 && s.samples > 0)
      .reduce((m, s) => Math.max(m, s.achievedRate), 0);
    process.stdout.write(`highest sustained churn with the importer within 1 s (p99): ${sustained} ops/s\n`);

    const soakRate = 300;
    const rssMiB: ChurnBenchResult['soak']['rssMiB'] = [];
    const mib = (pid: number): number => Math.round(processMemory(pid).rss / 2 ** 20);
    rssMiB.push({ atS: 0, exporter: mib(exporter.pid), importer: mib(importer.pid) });
    let nextSample = 10_000;
    const r = await churn({
      url: exporter.url,
      consumer: 'importer',
      seconds: soakSeconds,
      rate: soakRate,
      services: SERVICES,
      idsPerService: 30,
      keepExported: [PROBE],
      onTick: (elapsed) => {
        if (elapsed < nextSample) return;
        nextSample += 10_000;
        rssMiB.push({
          atS: Math.round(elapsed / 1000),
          exporter: mib(exporter.pid),
          importer: mib(importer.pid),
        });
      },
    });
    let exact = false;
    for (let i = 0; i < 20 && !exact; i++) {
      await new Promise((res) => setTimeout(res, 500));
      exact =
        (await divergence(exporter.url, importer.url, 'exporter', SERVICES, r.exported)).services.length ===
        0;
    }
    const first = rssMiB[0];
    const last = rssMiB[rssMiB.length - 1];
    const peakExp = Math.max(...rssMiB.map((x) => x.exporter));
    const peakImp = Math.max(...rssMiB.map((x) => x.importer));
    process.stdout.write(
      `${soakSeconds} s churn at ${soakRate}/s (achieved ${Math.round(r.ops / soakSeconds)}/s): RSS exporter ${first?.exporter} -> ${last?.exporter} MiB (peak ${peakExp}), importer ${first?.importer} -> ${last?.importer} MiB (peak ${peakImp}); importer exact afterwards: ${exact}\n`,
    );
    return { steps, sustainedRate: sustained, soak: { seconds: soakSeconds, rate: soakRate, rssMiB, exact } };
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

runWhenInvokedDirectly(import.meta.url, main);
