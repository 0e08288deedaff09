// Data-plane benchmark against industry anchors, in one run: meshpeer's four-hop path (app → sidecar →
// gateway → gateway → sidecar → app), the same with its gateways on HAProxy (`meshpeer gateway
// --engine haproxy`: meshpeer's routes rendered into HAProxy child processes), with its sidecars on
// HAProxy too (`meshpeer proxy --engine haproxy`) or on nginx (`--engine nginx`), beside the same topology
// built from nginx stream sidecars with HAProxy gateways and from HAProxy alone, with certificates from
// the same meshpeer CAs, and direct loopback TCP. Rounds are interleaved (each round takes each column's
// measurement of every path in turn, in a new random order each round, and new connections and requests
// one sample of every path at a time, in a new random order each time) and the medians are printed, with each
// meshpeer path's speed relative to each anchor per column, the same ratio round by round, and the CPU
// each hop spends per MB and per new connection. The anchors come from
// scripts/bench-anchors.sh; without them only meshpeer and direct TCP are measured and the reason is
// printed.
//   npm run build && node dist/bench/dataplane-anchors.js
//   MESHPEER_BENCH_ROUNDS=5 MESHPEER_BENCH_MB=256 node dist/bench/dataplane-anchors.js
//   MESHPEER_BENCH_PATHS='nginx' ... measures only the paths whose names contain one of these
//   comma-separated words (direct TCP always); MESHPEER_BENCH_SETUPS, MESHPEER_BENCH_REQUESTS set the
//   number of new connections and of requests per round (100, 1,000).
//   MESHPEER_BENCH_CONTROL=1 also measures an unchanged second copy of the nginx anchor, as a path of its
//   own, and prints its speed relative to the anchor: what two identical paths differ by in the same run,
//   the floor under which a ratio says nothing. The copy is left out of "best anchor".
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueLeaf } from '../src/ca/index.js';
import type { Endpoint } from '../src/dataplane/endpoint.js';
import { DEFAULT_MESH_TLS } from '../src/dataplane/proxy/mesh-tls.js';
import { leafFor } from '../src/dataplane/testing/two-clusters.js';
import {
  connectionSetup,
  newConnectionMs,
  openRequestProbe,
  startMesh,
  throughputMBps,
} from './dataplane.js';
import {
  ENGINE_PATHS,
  engineGatewaysPathName,
  startEngineGatewaysPath,
} from './dataplane-anchors-engines.js';
import {
  ANCHOR_NAMES,
  type AnchorPath,
  controlName,
  installAnchors,
  startAnchorPath,
} from './support/anchor-proxies.js';
import { cpuTimeMs, percentile, runWhenInvokedDirectly } from './support/measure.js';

const MB = 1024 * 1024;
const COLUMNS = [
  'bulk, 1 conn (MB/s)',
  'bulk, 8 conns (MB/s)',
  'new connection p50 (ms)',
  '64 B request p50 (ms)',
];
/**
 * The TLS versions the anchors' calling sidecars offer: those meshpeer's sidecars offer by default, so
 * every sidecar of every path negotiates TLS 1.3.
 */
const ANCHOR_TLS = DEFAULT_MESH_TLS.outgoing;

/** Longer than any path defers work past a connection's end (the nginx sidecars' 1 s log flush). */
const DEFERRED_WORK_MS = 1_500;

/** Whether a larger number is better, per column. */
const HIGHER_IS_BETTER = [true, true, false, false];

interface Path {
  name: string;
  entry: Endpoint;
  hops: { name: string; pid: number }[];
}

interface Samples {
  columns: number[][];
  /** Per hop: CPU ms per MB echoed, one sample per bulk transfer. */
  cpu: number[][];
  /** Per hop: CPU ms per new connection, one sample per round. */
  cpuPerConnection: number[][];
}

export interface AnchorsBenchResult {
  paths: {
    name: string;
    medians: number[];
    /** Per column, one value per round, in round order. */
    samples: number[][];
    cpuMsPerMB: Record<string, number>;
    cpuMsPerConnection: Record<string, number>;
  }[];
  skipped?: string;
}

export async function main(
  options: {
    rounds?: number;
    transferMB?: number;
    setups?: number;
    requests?: number;
    /** Words naming the paths to measure (see above); default all. */
    paths?: string;
    /** Also measure an unchanged copy of the nginx anchor (see above). */
    control?: boolean;
  } = {},
): Promise<AnchorsBenchResult> {
  const rounds = options.rounds ?? Number(process.env.MESHPEER_BENCH_ROUNDS ?? 5);
  const transferMB = options.transferMB ?? Number(process.env.MESHPEER_BENCH_MB ?? 256);
  const setups = options.setups ?? Number(process.env.MESHPEER_BENCH_SETUPS ?? 100);
  const requests = options.requests ?? Number(process.env.MESHPEER_BENCH_REQUESTS ?? 1000);
  const words = (options.paths ?? process.env.MESHPEER_BENCH_PATHS ?? '')
    .split(',')
    .map((w) => w.trim())
    .filter(Boolean);
  const wanted = (name: string): boolean => words.length === 0 || words.some((w) => name.includes(w));
  const control = options.control ?? process.env.MESHPEER_BENCH_CONTROL === '1';
  const loadBefore = loadavg();
  // Interrupted, it still runs its exit handlers, which stop the anchors' processes.
  const interrupted = (): void => process.exit(130);
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  const installed = installAnchors();
  const dir = mkdtempSync(join(tmpdir(), 'meshpeer-anchors-'));
  const mesh = await startMesh();
  const anchors: AnchorPath[] = [];
  try {
    const paths: Path[] = [{ name: 'direct TCP', entry: mesh.echo.address, hops: [] }];
    // The backend's leaf as the leaf route issues it to a service exported to the importer: it names
    // the SNI name the importer's sidecars send, which is what HAProxy and nginx sidecars check.
    const backendLeaf = await issueLeaf(mesh.exporter.root, {
      service: 'backend',
      datacenter: mesh.exporter.datacenter,
      sniNames: [mesh.backendSni],
    });
    if (installed.ok) {
      const certs = {
        frontend: await leafFor(mesh.importer, 'frontend'),
        backend: backendLeaf,
        exporterRootPem: mesh.exporter.root.certPem,
        importerRootPem: mesh.importer.root.certPem,
        sni: mesh.backendSni,
      };
      for (const kind of ['nginx', 'haproxy'] as const) {
        if (!wanted(ANCHOR_NAMES[kind])) continue;
        anchors.push(await startAnchorPath(installed, kind, certs, mesh.echo.address, dir, ANCHOR_TLS));
      }
      if (control && wanted(ANCHOR_NAMES.nginx)) {
        anchors.push(
          await startAnchorPath(installed, 'nginx', certs, mesh.echo.address, dir, ANCHOR_TLS, true),
        );
      }
      paths.push(...anchors);
    }
    if (wanted('meshpeer')) {
      paths.push({
        name: 'meshpeer',
        entry: mesh.upstream,
        hops: mesh.components.map((c) => ({ name: c.name, pid: c.child.pid })),
      });
    }
    if (installed.ok) {
      // meshpeer's sidecars with `meshpeer gateway --engine haproxy` gateways; then the sidecars too as
      // `meshpeer proxy --engine haproxy` and `--engine nginx` run them, and nginx gateways with nginx
      // sidecars (the engines' upstream checks need the backend's leaf to name its SNI name).
      for (const [gateways, sidecars] of ENGINE_PATHS) {
        if (!wanted(engineGatewaysPathName(gateways, sidecars))) continue;
        const path = await startEngineGatewaysPath(
          mesh.exporter,
          mesh.importer,
          mesh.echo.address,
          mesh.backendSni,
          { gateways, sidecars },
          sidecars === 'node' ? undefined : backendLeaf,
        );
        anchors.push(path); // closed with the anchors
        paths.push(path);
      }
    }
    // Warm-up: JIT, TLS state and session caches in every process of every path.
    for (const path of paths) {
      await bounded(throughputMBps(path.entry, 16), `${path.name} warm-up`);
      await bounded(connectionSetup(path.entry, 10), `${path.name} warm-up`);
    }
    const samples = new Map<string, Samples>(
      paths.map((p) => [
        p.name,
        { columns: COLUMNS.map(() => []), cpu: p.hops.map(() => []), cpuPerConnection: p.hops.map(() => []) },
      ]),
    );
    for (let round = 0; round < rounds; round++) {
      // Column by column, every path in a new random order each round: the same measurement of two paths
      // is taken seconds apart, not a whole path's measurements apart, so the machine's drift weighs on
      // both alike, and no path always follows the same one (see interleaved()).
      const order = shuffled(paths);
      for (const path of order) {
        const s = samples.get(path.name)!;
        s.columns[0]!.push(
          await withCpu(path, 0, s, transferMB, () => throughputMBps(path.entry, transferMB)),
        );
      }
      for (const path of order) {
        const s = samples.get(path.name)!;
        s.columns[1]!.push(
          await withCpu(path, 1, s, transferMB, () => parallelMBps(path.entry, transferMB, 8)),
        );
      }
      // New connections and requests one path after another, one at a time: each path's sample is
      // taken within milliseconds of every other path's. The hops are distinct processes, so each
      // path's CPU over the whole run is its own connections'.
      const before = order.map((path) => path.hops.map((h) => cpuTimeMs(h.pid)));
      const setupMs = await bounded(
        interleaved(order, setups, (p) => newConnectionMs(p.entry)),
        'new connections',
      );
      // Work a path defers past its connections is theirs, and must not land in the requests measured
      // next: the nginx sidecars write their connection log at most once a second, and meshpeer reads it.
      await new Promise((resolve) => setTimeout(resolve, DEFERRED_WORK_MS));
      order.forEach((path, p) => {
        const s = samples.get(path.name)!;
        s.columns[2]!.push(percentile(setupMs[p]!, 0.5));
        path.hops.forEach((h, i) => {
          s.cpuPerConnection[i]!.push((cpuTimeMs(h.pid) - before[p]![i]!) / setups);
        });
      });
      const probes = await Promise.all(order.map((path) => openRequestProbe(path.entry)));
      try {
        const requestMs = await bounded(
          interleaved(order, requests, (_, p) => probes[p]!.roundTrip()),
          '64 B requests',
        );
        order.forEach((path, p) => {
          samples.get(path.name)!.columns[3]!.push(percentile(requestMs[p]!, 0.5));
        });
      } finally {
        for (const probe of probes) probe.close();
      }
      process.stdout.write(`round ${round + 1}/${rounds} done\n`);
    }
    const result: AnchorsBenchResult = {
      paths: paths.map((p) => {
        const s = samples.get(p.name)!;
        return {
          name: p.name,
          medians: s.columns.map(median),
          samples: s.columns,
          cpuMsPerMB: Object.fromEntries(p.hops.map((h, i) => [h.name, median(s.cpu[i]!)])),
          cpuMsPerConnection: Object.fromEntries(
            p.hops.map((h, i) => [h.name, median(s.cpuPerConnection[i]!)]),
          ),
        };
      }),
      ...(installed.ok ? {} : { skipped: installed.why }),
    };
    print(result, { rounds, transferMB, setups, requests, loadBefore, loadAfter: loadavg() });
    return result;
  } finally {
    for (const anchor of anchors) await anchor.close();
    await mesh.close();
    rmSync(dir, { recursive: true, force: true });
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  }
}

/** Runs a bulk transfer and records each hop's CPU ms per MB echoed during it. */
async function withCpu(
  path: Path,
  column: number,
  s: Samples,
  megabytes: number,
  run: () => Promise<number>,
): Promise<number> {
  const before = path.hops.map((h) => cpuTimeMs(h.pid));
  const value = await bounded(run(), `${path.name}, ${COLUMNS[column]}`);
  path.hops.forEach((h, i) => {
    s.cpu[i]!.push((cpuTimeMs(h.pid) - before[i]!) / megabytes);
  });
  return value;
}

/** `count` samples of `measure` per path, taken one sample of every path at a time. */
async function interleaved(
  paths: Path[],
  count: number,
  measure: (path: Path, index: number) => Promise<number>,
): Promise<number[][]> {
  const out = paths.map(() => [] as number[]);
  for (let i = 0; i < count; i++) {
    // A new order for every sample. In a fixed cycle (even one rotated every round) each path always
    // runs right after the same other path, which leaves the shared caches to it: measured, a path run
    // after direct TCP answered small requests up to 1 % faster than the same path run after an anchor.
    for (const p of shuffled(paths.map((_, index) => index))) out[p]!.push(await measure(paths[p]!, p));
  }
  return out;
}

/** A copy of `items` in random order (Fisher–Yates). */
function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** One-way MB/s of `megabytes` echoed over `connections` parallel connections, split evenly. */
async function parallelMBps(endpoint: Endpoint, megabytes: number, connections: number): Promise<number> {
  const perConnection = Math.floor((megabytes * MB) / connections);
  const chunk = Buffer.alloc(256 * 1024, 0x5a);
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      const socket = net.connect({ ...endpoint, noDelay: true, allowHalfOpen: true });
      await once(socket, 'connect');
      let received = 0;
      socket.on('data', (data: Buffer) => {
        received += data.length;
      });
      const ended = once(socket, 'end');
      // A reset while writing rejects both this and the write loop's wait: it is reported once, there.
      ended.catch(() => {});
      for (let sent = 0; sent < perConnection; sent += chunk.length) {
        const part = Math.min(chunk.length, perConnection - sent);
        if (!socket.write(part === chunk.length ? chunk : chunk.subarray(0, part)))
          await once(socket, 'drain');
      }
      socket.end();
      await ended;
      socket.destroy();
      if (received !== perConnection) throw new Error(`sent ${perConnection} bytes, ${received} came back`);
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return (perConnection * connections) / MB / seconds;
}

/** Every measurement ends within 5 minutes or fails the benchmark. */
function bounded<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: a measurement took over 5 minutes`)), 300_000);
  });
  return Promise.race([work, limit])
    .catch((err: Error) => {
      throw new Error(`${what}: ${err.message}`);
    })
    .finally(() => clearTimeout(timer));
}

function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** A speed ratio: above 1 means meshpeer is faster than the anchor on that column. */
function speed(m: number, a: number, column: number): number {
  return HIGHER_IS_BETTER[column] ? m / a : a / m;
}

/** One column's round-by-round ratios of `mesh` to the best anchor of each round, summarized. */
function roundRatios(
  mesh: AnchorsBenchResult['paths'][number],
  anchors: AnchorsBenchResult['paths'],
  column: number,
): string {
  const ratios = (mesh.samples[column] ?? []).map((m, round) =>
    Math.min(...anchors.map((a) => speed(m, a.samples[column]?.[round] ?? Number.NaN, column))),
  );
  const at = ratios.filter((r) => r >= 1).length;
  const low = Math.min(...ratios);
  const high = Math.max(...ratios);
  return `${COLUMNS[column]} ${median(ratios).toFixed(2)}× (${low.toFixed(2)}–${high.toFixed(2)}), ${at}/${ratios.length}`;
}

function print(
  r: AnchorsBenchResult,
  run: {
    rounds: number;
    transferMB: number;
    setups: number;
    requests: number;
    loadBefore: number[];
    loadAfter: number[];
  },
): void {
  const f = (n: number, column: number): string => (column < 2 ? n.toFixed(0) : n.toFixed(2));
  const load = (l: number[]): string => l.map((x) => x.toFixed(2)).join(' ');
  const lines = [
    'data plane vs anchors: app → sidecar → gateway → gateway → sidecar → echo, one process per hop, loopback',
    `medians of ${run.rounds} interleaved rounds; ${run.transferMB} MB echoed per bulk transfer, ${run.setups} new connections, ${run.requests} requests; ${cpus().length} CPUs; load average before ${load(run.loadBefore)}, after ${load(run.loadAfter)}`,
  ];
  lines.push(
    `TLS between sidecars: callers offer ${ANCHOR_TLS.minVersion}-${ANCHOR_TLS.maxVersion} on every path (meshpeer's default, set on the anchors)`,
  );
  if (r.skipped) lines.push(`anchors skipped: ${r.skipped}`);
  lines.push(`| path | ${COLUMNS.join(' | ')} |`, `|---|${COLUMNS.map(() => '---|').join('')}`);
  for (const p of r.paths) lines.push(`| ${p.name} | ${p.medians.map((m, i) => f(m, i)).join(' | ')} |`);
  const ours = r.paths.filter((p) => p.name.startsWith('meshpeer'));
  const copyName = controlName(ANCHOR_NAMES.nginx);
  const copy = r.paths.find((p) => p.name === copyName);
  const anchors = r.paths.filter(
    (p) => !p.name.startsWith('meshpeer') && p.name !== 'direct TCP' && p.name !== copyName,
  );
  const perRound: string[] = [];
  for (const mesh of ours) {
    for (const a of anchors) {
      lines.push(
        `| ${mesh.name} speed ÷ ${a.name} | ${mesh.medians.map((m, i) => `${speed(m, a.medians[i]!, i).toFixed(2)}×`).join(' | ')} |`,
      );
    }
    if (anchors.length > 0) {
      // Against the best anchor of each column, the smallest of the ratios.
      const best = COLUMNS.map((_, i) =>
        Math.min(...anchors.map((a) => speed(mesh.medians[i]!, a.medians[i]!, i))),
      );
      lines.push(`| ${mesh.name} speed ÷ best anchor | ${best.map((b) => `${b.toFixed(2)}×`).join(' | ')} |`);
      perRound.push(`  ${mesh.name}: ${COLUMNS.map((_, i) => roundRatios(mesh, anchors, i)).join('; ')}`);
    }
  }
  const original = anchors.find((p) => p.name === ANCHOR_NAMES.nginx);
  if (copy && original) {
    lines.push(
      `| control: ${copy.name} speed ÷ ${original.name} | ${copy.medians.map((m, i) => `${speed(m, original.medians[i]!, i).toFixed(2)}×`).join(' | ')} |`,
    );
    perRound.push(
      `  control, ${copy.name}: ${COLUMNS.map((_, i) => roundRatios(copy, [original], i)).join('; ')}`,
    );
  }
  if (perRound.length > 0) {
    // Both measured in the same round, minutes apart at most: the machine's drift between rounds
    // (other tenants, the load the bench itself leaves) cancels out of each ratio.
    lines.push(
      '',
      `Speed ÷ best anchor round by round (each round measures every path once${copy && original ? '; the control: the copy ÷ its anchor' : ''}): median (lowest–highest), rounds at 1.0× or more:`,
      ...perRound,
    );
  }
  lines.push(
    '',
    'CPU ms per MB echoed, per hop (scheduler run time of each process’s threads, from /proc, bulk transfers):',
  );
  for (const p of r.paths) {
    const entries = Object.entries(p.cpuMsPerMB);
    if (entries.length === 0) continue;
    const total = entries.reduce((sum, [, ms]) => sum + ms, 0);
    lines.push(
      `  ${p.name}: ${entries.map(([hop, ms]) => `${hop} ${ms.toFixed(2)}`).join(', ')}; path ${total.toFixed(2)}`,
    );
  }
  lines.push('CPU ms per new connection, per hop (the same, connection-setup runs):');
  for (const p of r.paths) {
    const entries = Object.entries(p.cpuMsPerConnection);
    if (entries.length === 0) continue;
    const total = entries.reduce((sum, [, ms]) => sum + ms, 0);
    lines.push(
      `  ${p.name}: ${entries.map(([hop, ms]) => `${hop} ${ms.toFixed(2)}`).join(', ')}; path ${total.toFixed(2)}`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

runWhenInvokedDirectly(import.meta.url, main);
