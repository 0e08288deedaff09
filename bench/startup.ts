// Start-up: from spawning `meshpeer server` to its HTTP API answering GET /v1/status/leader (the first
// thing clients and HashiCorp's test helpers wait for; target: within 500 ms on an idle machine), and
// to the port accepting connections (bound before the server's modules load, src/server/early-listener.ts),
// for an in-memory server (--dev) and a SQLite one (--data-dir). Also the CPU the process used by then.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../src/shared/testing/free-port.js';
import { cpuTimeMs, percentile, runWhenInvokedDirectly } from './support/measure.js';

const CLI = resolve(import.meta.dirname, '../src/cli/main.js');
const RUNS = Number(process.env.MESHPEER_BENCH_STARTUP_RUNS ?? 10);

function get(port: number): Promise<number> {
  return new Promise((res) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/v1/status/leader', agent: false }, (r) => {
      r.resume();
      r.on('end', () => res(r.statusCode ?? 0));
    });
    req.on('error', () => res(0));
  });
}

function connects(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
  });
}

interface Sample {
  boundMs: number;
  answerMs: number;
  cpuMs: number;
}

async function once(durable: boolean): Promise<Sample> {
  const port = await freePort();
  const dir = durable ? mkdtempSync(join(tmpdir(), 'meshpeer-bench-startup-')) : undefined;
  const t0 = performance.now();
  const child = spawn(
    process.execPath,
    [
      CLI,
      'server',
      '--http-addr',
      `127.0.0.1:${port}`,
      '--grpc-addr',
      '127.0.0.1:0',
      ...(dir ? ['--data-dir', dir] : ['--dev']),
    ],
    { stdio: 'ignore', env: { ...process.env, MESHPEER_LOG_LEVEL: 'warn' } },
  );
  try {
    let boundMs = Number.NaN;
    for (;;) {
      if (Number.isNaN(boundMs) && (await connects(port))) boundMs = performance.now() - t0;
      if (!Number.isNaN(boundMs) && (await get(port)) === 200) break;
      if (performance.now() - t0 > 30_000) throw new Error('the server did not answer within 30 s');
      await new Promise((r) => setTimeout(r, 2));
    }
    const answerMs = performance.now() - t0;
    return { boundMs, answerMs, cpuMs: cpuTimeMs(child.pid!) };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

export async function main(): Promise<void> {
  for (const durable of [false, true]) {
    const samples: Sample[] = [];
    // The target is for an idle machine: the load average says how far from idle this run was.
    const load = loadavg()[0]!.toFixed(1);
    for (let i = 0; i < RUNS; i++) samples.push(await once(durable));
    const p = (f: (s: Sample) => number, q: number): string => percentile(samples.map(f), q).toFixed(0);
    process.stdout.write(
      `start-up (${durable ? '--data-dir, SQLite' : '--dev, memory'}), ${RUNS} runs: ` +
        `API answers p50 ${p((s) => s.answerMs, 0.5)} ms / p90 ${p((s) => s.answerMs, 0.9)} ms ` +
        `(target < 500 ms); port accepting p50 ${p((s) => s.boundMs, 0.5)} ms; ` +
        `CPU by then p50 ${p((s) => s.cpuMs, 0.5)} ms; load average ${load} at the start\n`,
    );
  }
}

runWhenInvokedDirectly(import.meta.url, main);
