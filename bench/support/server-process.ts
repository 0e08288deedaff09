// A real `meshpeer server` for a benchmark: SQLite data dir of its own, loopback ports chosen by the
// server, ready once it logs "server ready"; a failed start leaves no process or directory behind.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const MAX_LOG = 1024 * 1024;

export interface BenchServer {
  pid: number;
  /** SIGKILL, for failure benchmarks; resolves once the process is gone. */
  kill(): Promise<void>;
  /** host:port of the HTTP API. */
  address: string;
  url: string;
  host: string;
  port: number;
  stop(): Promise<void>;
}

export interface BenchServerOptions {
  /** Keep the state in etcd under this prefix (--store etcd) instead of a SQLite data dir. */
  etcd?: { endpoints: string[]; prefix: string };
  nodeName?: string;
  extraArgs?: string[];
}

export async function startBenchServer(datacenter: string, o: BenchServerOptions = {}): Promise<BenchServer> {
  const dataDir = mkdtempSync(join(tmpdir(), `meshpeer-bench-${datacenter}-`));
  const child: ChildProcess = spawn(
    process.execPath,
    [
      // e.g. MESHPEER_BENCH_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' to profile the server.
      ...(process.env.MESHPEER_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean),
      CLI,
      'server',
      '--http-addr',
      '127.0.0.1:0',
      '--grpc-addr',
      '127.0.0.1:0',
      ...(o.etcd === undefined
        ? ['--data-dir', dataDir]
        : [
            '--store',
            'etcd',
            '--etcd-endpoints',
            o.etcd.endpoints.join(','),
            '--etcd-prefix',
            o.etcd.prefix,
          ]),
      '--datacenter',
      datacenter,
      '--node-name',
      o.nodeName ?? `${datacenter}-node`,
      ...(o.extraArgs ?? []),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, MESHPEER_LOG_LEVEL: 'info' } },
  );
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const address = await new Promise<string>((resolve, reject) => {
    const fail = (err: Error): void => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
      reject(err);
    };
    let buf = '';
    const timer = setTimeout(() => fail(new Error(`${datacenter}: server did not start in 20 s`)), 20_000);
    child.stderr?.on('data', (c: Buffer) => {
      buf += c.toString();
      const m = /"httpAddress":"([^"]+)"[^\n]*"msg":"server ready"/.exec(buf);
      if (m?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(m[1]);
      }
      if (buf.length > MAX_LOG) buf = buf.slice(-64 * 1024);
    });
    void exited.then(() => {
      clearTimeout(timer);
      fail(new Error(`${datacenter}: server exited before it was ready:\n${buf}`));
    });
  });
  const i = address.lastIndexOf(':');
  let stopped = false;
  return {
    pid: child.pid!,
    address,
    url: `http://${address}`,
    host: address.slice(0, i).replace(/^\[|\]$/g, ''),
    port: Number(address.slice(i + 1)),
    async kill() {
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
