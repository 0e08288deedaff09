// Control-plane benchmark against a real `meshpeer server` (SQLite store, the default): registrations/s
// and reads/s over HTTP at 1k, 10k and 100k registered instances, RSS per instance above the
// baseline, idle CPU and wake-up latency of 1,000 blocking queries. Prints a table and the targets.
//   npm run build && node dist/bench/control-plane.js [--max 100000] [--concurrency 64] [--wake-rounds 5]

import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { cpuTimeMs, percentile, processMemory, runWhenInvokedDirectly } from './support/measure.js';
import { type BenchServer, startBenchServer } from './support/server-process.js';

const _CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const KiB = 1024;
const MiB = 1024 * 1024;

export interface ControlPlaneOptions {
  /** Instance counts to measure at, ascending. */
  sizes?: number[];
  concurrency?: number;
  watchers?: number;
  wakeRounds?: number;
  /** Upper bound of each registration phase and each read phase, in ms. */
  phaseTimeMs?: number;
  readTimeMs?: number;
}

export interface SizeResult {
  instances: number;
  registrationsPerSec: number;
  readsPerSec: number;
  readP99Ms: number;
  rssMiB: number;
  rssBytesPerInstance: number;
  heapUsedMiB: number;
}

export interface ControlPlaneResult {
  sizes: SizeResult[];
  baselineRssMiB: number;
  /** Blocking-query wake-ups, measured with an empty catalog and again with the largest one. */
  wake: WakeResult[];
}

/** Times from the write's acknowledgement (0 when a response beat the ack), and from the write sent. */
export interface WakeResult {
  /** Instances registered while measuring. */
  instances: number;
  idleCpuPercent: number;
  watchers: number;
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  fromWriteP50Ms: number;
  fromWriteP99Ms: number;
  /** Server CPU (user + system) per woken query, from the write to the last response. */
  serverCpuUsPerWake: number;
}

const TARGETS = {
  registrationsPerSec: 5000,
  wakeP99Ms: 20,
  rssBytesPerInstance: 2 * KiB,
};

export async function main(options: ControlPlaneOptions = {}): Promise<ControlPlaneResult> {
  const args = parseArgs(process.argv.slice(2));
  const max = args.max ?? 100_000;
  const sizes = (options.sizes ?? [1000, 10_000, 100_000]).filter((n) => n <= max);
  const concurrency = options.concurrency ?? args.concurrency ?? 64;
  const watchers = options.watchers ?? 1000;
  const wakeRounds = options.wakeRounds ?? args.wakeRounds ?? 5;
  const phaseTimeMs = options.phaseTimeMs ?? 60_000;
  const readTimeMs = options.readTimeMs ?? 4000;

  const server = await startBenchServer('bench');
  const { host, port } = server;
  const pool = await Promise.all(Array.from({ length: concurrency }, () => RawConnection.open(host, port)));
  try {
    // Warm up the JIT and the connections (reads, and registrations that are then removed), then take
    // the baseline.
    await drive(pool, 2000, 10_000, () => ({ path: '/v1/health/service/none' }));
    await drive(pool, 3000, 10_000, (i) => warmup(i));
    await drive(pool, WARMUP_NODES, 10_000, (i) => ({
      method: 'PUT',
      path: '/v1/catalog/deregister',
      body: JSON.stringify({ Node: `warmup-${i}` }),
    }));
    const wake: WakeResult[] = [await wakeUpLatency(server, watchers, wakeRounds, 0)];
    await sleep(1000);
    const baseline = rssBytes(server.pid);

    const results: SizeResult[] = [];
    let registered = 0;
    for (const size of sizes) {
      const from = registered;
      const reg = await drive(pool, size - from, phaseTimeMs, (i) => registration(from + i));
      if (reg.failed > 0) throw new Error(`${reg.failed} registrations failed: ${reg.firstError}`);
      registered = from + reg.done;
      const services = Math.max(1, Math.floor(registered / 10));
      const reads = await drive(pool, 1_000_000, readTimeMs, () => ({
        path: `/v1/health/service/svc-${Math.floor(Math.random() * services)}`,
      }));
      if (reads.failed > 0) throw new Error(`${reads.failed} reads failed: ${reads.firstError}`);
      await sleep(1000);
      const rss = rssBytes(server.pid);
      const metrics = (await pool[0]!.request('GET', '/metrics')).body;
      const heap = Number(/^meshpeer_nodejs_heap_size_used_bytes (\S+)/m.exec(metrics)?.[1]);
      results.push({
        heapUsedMiB: heap / MiB,
        instances: registered,
        registrationsPerSec: reg.done / (reg.elapsedMs / 1000),
        readsPerSec: reads.done / (reads.elapsedMs / 1000),
        readP99Ms: percentile(reads.latencies, 0.99),
        rssMiB: rss / MiB,
        rssBytesPerInstance: (rss - baseline) / registered,
      });
      if (registered < size) {
        process.stdout.write(`(registration phase hit its time bound at ${registered} of ${size})\n`);
        break;
      }
    }

    if (registered > 0) wake.push(await wakeUpLatency(server, watchers, wakeRounds, registered));
    const result: ControlPlaneResult = { sizes: results, baselineRssMiB: baseline / MiB, wake };
    print(result, concurrency);
    return result;
  } finally {
    for (const c of pool) c.close();
    await server.stop();
  }
}

// ---- workload ----

interface Req {
  method?: string;
  path: string;
  body?: string;
}

const WARMUP_NODES = 100;

function warmup(i: number): Req {
  const r = registration(i);
  const body = JSON.parse(r.body!) as { Node: string; Service: { Service: string } };
  body.Node = `warmup-${i % WARMUP_NODES}`;
  body.Service.Service = 'warmup';
  return { ...r, body: JSON.stringify(body) };
}

/** Instance i: service svc-(i/10) (ten instances each), on node-(i mod 10000), with one passing check. */
function registration(i: number): Req {
  const node = i % 10_000;
  const id = `svc-${Math.floor(i / 10)}-${i}`;
  return {
    method: 'PUT',
    path: '/v1/catalog/register',
    body: JSON.stringify({
      Node: `node-${node}`,
      Address: `10.${(node >> 16) & 255}.${(node >> 8) & 255}.${node & 255}`,
      Service: {
        ID: id,
        Service: `svc-${Math.floor(i / 10)}`,
        Port: 8000 + (i % 1000),
        Tags: ['v1'],
        Meta: { version: '1' },
      },
      Check: { Name: 'alive', Status: 'passing', ServiceID: id },
    }),
  };
}

interface DriveResult {
  done: number;
  failed: number;
  firstError: string | undefined;
  elapsedMs: number;
  latencies: number[];
}

/**
 * Runs up to `count` requests over `pool` (one request in flight per connection), stopping early at
 * `timeMs`. The raw connections keep the load generator's own CPU small next to the server's.
 */
async function drive(
  pool: RawConnection[],
  count: number,
  timeMs: number,
  make: (i: number) => Req,
): Promise<DriveResult> {
  let next = 0;
  let done = 0;
  let failed = 0;
  let firstError: string | undefined;
  const latencies: number[] = [];
  const t0 = performance.now();
  const deadline = t0 + timeMs;
  const worker = async (conn: RawConnection): Promise<void> => {
    while (next < count && performance.now() < deadline) {
      const r = make(next++);
      const start = performance.now();
      const res = await conn.request(r.method ?? 'GET', r.path, r.body);
      latencies.push(performance.now() - start);
      if (res.status >= 200 && res.status < 300) done++;
      else {
        failed++;
        firstError ??= `${res.status} ${res.body}`;
      }
    }
  };
  await Promise.all(pool.map(worker));
  return { done, failed, firstError, elapsedMs: performance.now() - t0, latencies };
}

// ---- blocking queries ----

/**
 * Opens `watchers` blocking queries on one service, measures the server's CPU while they sit idle, then
 * writes once per round and times each response from the write's acknowledgement.
 */
async function wakeUpLatency(
  server: BenchServer,
  watchers: number,
  rounds: number,
  instances: number,
): Promise<WakeResult> {
  const { host, port } = server;
  const conns = await Promise.all(Array.from({ length: watchers }, () => RawConnection.open(host, port)));
  const writer = await RawConnection.open(host, port);
  const samples: number[] = [];
  const fromWrite: number[] = [];
  let wakeCpuMs = 0;
  let idleCpuPercent = Number.NaN;
  try {
    let index = (await writer.request('GET', '/v1/health/service/watched')).index;
    // Round -1 warms the path up and is not counted.
    for (let round = -1; round < rounds; round++) {
      const path = `/v1/health/service/watched?index=${index}&wait=60s`;
      const arrivals = conns.map((c) => c.request('GET', path));
      await waitForBlocking(host, port, watchers);
      if (round === 0) {
        const cpu0 = cpuTimeMs(server.pid);
        const t = performance.now();
        await sleep(2000);
        idleCpuPercent = ((cpuTimeMs(server.pid) - cpu0) / (performance.now() - t)) * 100;
      }
      const body = JSON.stringify({
        Node: 'watched-node',
        Address: '10.255.0.1',
        // One instance whose port changes each write: the watched result keeps its size.
        Service: { ID: 'watched-1', Service: 'watched', Port: 9000 + (wakeWrites++ % 50_000) },
      });
      const cpuBefore = cpuTimeMs(server.pid);
      const ack = await writer.request('PUT', '/v1/catalog/register', body);
      if (ack.status !== 200) throw new Error(`write failed: ${ack.status} ${ack.body}`);
      const responses = await Promise.all(arrivals);
      const cpuMs = cpuTimeMs(server.pid) - cpuBefore;
      for (const r of responses) {
        if (r.status !== 200) throw new Error(`blocking query failed: ${r.status} ${r.body}`);
        if (r.index <= index) throw new Error(`blocking query returned index ${r.index} <= ${index}`);
      }
      index = Math.max(...responses.map((r) => r.index));
      if (round < 0) continue;
      wakeCpuMs += cpuMs;
      for (const r of responses) {
        samples.push(Math.max(0, r.firstByteAt - ack.firstByteAt));
        fromWrite.push(r.firstByteAt - ack.sentAt);
      }
    }
  } finally {
    for (const c of conns) c.close();
    writer.close();
  }
  return {
    instances,
    idleCpuPercent,
    watchers,
    samples: samples.length,
    p50Ms: percentile(samples, 0.5),
    p99Ms: percentile(samples, 0.99),
    maxMs: Math.max(...samples),
    fromWriteP50Ms: percentile(fromWrite, 0.5),
    fromWriteP99Ms: percentile(fromWrite, 0.99),
    serverCpuUsPerWake: (wakeCpuMs * 1000) / samples.length,
  };
}

let wakeWrites = 0;

async function waitForBlocking(host: string, port: number, n: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  const conn = await RawConnection.open(host, port);
  try {
    while (Date.now() < deadline) {
      const m = await conn.request('GET', '/metrics');
      const v = /^meshpeer_http_blocking_queries (\d+)/m.exec(m.body);
      if (v !== null && Number(v[1]) >= n) return;
      await sleep(50);
    }
  } finally {
    conn.close();
  }
  throw new Error(`${n} blocking queries did not open within 30 s`);
}

interface RawResponse {
  status: number;
  index: number;
  body: string;
  firstByteAt: number;
  /** When the request was written. */
  sentAt: number;
}

/**
 * A minimal HTTP/1.1 keep-alive connection: writes one request at a time and timestamps the first
 * byte of the response, so a thousand of them cost the benchmark process little.
 */
class RawConnection {
  private buffer: Buffer = Buffer.alloc(0);
  private pending:
    | { resolve: (r: RawResponse) => void; reject: (e: Error) => void; firstByteAt: number; sentAt: number }
    | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  static open(host: string, port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host, port }, () => resolve(new RawConnection(s)));
      s.once('error', reject);
    });
  }

  request(method: string, path: string, body?: string): Promise<RawResponse> {
    if (this.pending !== undefined) return Promise.reject(new Error('request already in flight'));
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject, firstByteAt: 0, sentAt: performance.now() };
      const head =
        `${method} ${path} HTTP/1.1\r\nHost: bench\r\n` +
        (body === undefined ? '' : `Content-Length: ${Buffer.byteLength(body)}\r\n`) +
        '\r\n';
      this.socket.write(body === undefined ? head : head + body);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    const p = this.pending;
    if (p === undefined) return;
    if (p.firstByteAt === 0) p.firstByteAt = performance.now();
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = this.buffer.subarray(0, end).toString('latin1');
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    if (this.buffer.length < end + 4 + length) return;
    const body = this.buffer.subarray(end + 4, end + 4 + length).toString('utf8');
    this.buffer = this.buffer.subarray(end + 4 + length);
    this.pending = undefined;
    p.resolve({
      status: Number(head.slice(9, 12)),
      index: Number(/\r\nx-consul-index:\s*(\d+)/i.exec(head)?.[1] ?? 0),
      body,
      firstByteAt: p.firstByteAt,
      sentAt: p.sentAt,
    });
  }

  private fail(err: Error): void {
    const p = this.pending;
    this.pending = undefined;
    p?.reject(err);
  }
}

// ---- the server process ----

const rssBytes = (pid: number): number => processMemory(pid).rss;

// ---- output ----

function print(r: ControlPlaneResult, concurrency: number): void {
  const f = (n: number, d = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: d });
  const pad = (s: string, n: number): string => s.padStart(n);
  const lines: string[] = [
    `control plane: meshpeer server (SQLite store), HTTP keep-alive, ${concurrency} requests in flight`,
    `${pad('instances', 10)} ${pad('registrations/s', 16)} ${pad('reads/s', 10)} ${pad('read p99 ms', 12)} ${pad('RSS MiB', 9)} ${pad('RSS/10k MiB', 12)} ${pad('B/instance', 11)} ${pad('heap used MiB', 14)}`,
  ];
  for (const s of r.sizes) {
    lines.push(
      `${pad(f(s.instances), 10)} ${pad(f(s.registrationsPerSec), 16)} ${pad(f(s.readsPerSec), 10)} ${pad(f(s.readP99Ms, 2), 12)} ${pad(f(s.rssMiB, 1), 9)} ${pad(f((s.rssBytesPerInstance * 10_000) / MiB, 2), 12)} ${pad(f(s.rssBytesPerInstance), 11)} ${pad(f(s.heapUsedMiB, 1), 14)}`,
    );
  }
  lines.push(`baseline RSS ${f(r.baselineRssMiB, 1)} MiB`);
  for (const w of r.wake) {
    lines.push(
      `blocking queries with ${f(w.instances)} instances registered: ${w.watchers} idle watchers cost ` +
        `${f(w.idleCpuPercent, 2)}% of one core; wake-up after a write (n=${w.samples}) p50 ${f(w.p50Ms, 2)} ms, ` +
        `p99 ${f(w.p99Ms, 2)} ms, max ${f(w.maxMs, 2)} ms (from the write sent: p50 ${f(w.fromWriteP50Ms, 2)} ms, ` +
        `p99 ${f(w.fromWriteP99Ms, 2)} ms); server CPU ${f(w.serverCpuUsPerWake)} µs per woken query`,
    );
  }
  const largest = r.sizes[r.sizes.length - 1];
  const minRegs = Math.min(...r.sizes.map((s) => s.registrationsPerSec));
  const check = (ok: boolean): string => (ok ? 'met' : 'MISSED');
  lines.push('targets:');
  lines.push(
    `  registrations/s >= ${f(TARGETS.registrationsPerSec)} at every size: lowest ${f(minRegs)} — ${check(minRegs >= TARGETS.registrationsPerSec)}`,
  );
  for (const w of r.wake) {
    lines.push(
      `  wake-up p99 < ${TARGETS.wakeP99Ms} ms with ${w.watchers} watchers (${f(w.instances)} instances): ${f(w.p99Ms, 2)} ms — ${check(w.p99Ms < TARGETS.wakeP99Ms)}`,
    );
  }
  if (largest !== undefined) {
    lines.push(
      `  RSS < ${f(TARGETS.rssBytesPerInstance)} B per instance above baseline (at ${f(largest.instances)}): ${f(largest.rssBytesPerInstance)} B — ${check(largest.rssBytesPerInstance < TARGETS.rssBytesPerInstance)}`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

function parseArgs(argv: string[]): { max?: number; concurrency?: number; wakeRounds?: number } {
  const out: { max?: number; concurrency?: number; wakeRounds?: number } = {};
  for (let i = 0; i < argv.length; i++) {
    const v = Number(argv[i + 1]);
    if (argv[i] === '--max' && Number.isFinite(v)) out.max = v;
    if (argv[i] === '--concurrency' && Number.isFinite(v)) out.concurrency = v;
    if (argv[i] === '--wake-rounds' && Number.isFinite(v)) out.wakeRounds = v;
  }
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

runWhenInvokedDirectly(import.meta.url, main);
