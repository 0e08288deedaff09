// Starts a real `meshpeer server` process on free loopback ports and waits for its "server ready" log
// line; stop() sends SIGTERM (or kill() SIGKILL) to that PID only.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const CLI = resolve(import.meta.dirname, '../../dist/src/cli/main.js');

export interface ServerProcess {
  child: ChildProcess;
  pid: number;
  httpAddress: string;
  grpcAddress: string;
  url: string;
  dataDir: string | undefined;
  logs: string[];
  stop(): Promise<void>;
  kill(): Promise<void>;
}

export interface StartOptions {
  datacenter?: string;
  /** Use this data dir (kept after stop); 'temp' makes one removed on stop; undefined runs --dev. */
  dataDir?: string | 'temp';
  httpAddr?: string;
  grpcAddr?: string;
  extraArgs?: string[];
  env?: Record<string, string>;
  /** Default `node-<datacenter>`. */
  nodeName?: string;
  /** Keep the state in etcd (--store etcd) under this prefix instead of a data dir. */
  etcd?: { endpoints: string[]; prefix: string };
}

const tempDirs = new Set<string>();

export async function startServerProcess(opts: StartOptions = {}): Promise<ServerProcess> {
  let dataDir: string | undefined;
  let ownsDir = false;
  if (opts.dataDir === 'temp') {
    dataDir = mkdtempSync(join(tmpdir(), 'meshpeer-test-'));
    tempDirs.add(dataDir);
    ownsDir = true;
  } else {
    dataDir = opts.dataDir;
  }
  const args = [
    CLI,
    'server',
    '--http-addr',
    opts.httpAddr ?? '127.0.0.1:0',
    '--grpc-addr',
    opts.grpcAddr ?? '127.0.0.1:0',
    '--datacenter',
    opts.datacenter ?? 'dc1',
    '--node-name',
    opts.nodeName ?? `node-${opts.datacenter ?? 'dc1'}`,
    ...(opts.etcd !== undefined
      ? [
          '--store',
          'etcd',
          '--etcd-endpoints',
          opts.etcd.endpoints.join(','),
          '--etcd-prefix',
          opts.etcd.prefix,
        ]
      : dataDir === undefined
        ? ['--dev']
        : ['--data-dir', dataDir]),
    ...(opts.extraArgs ?? []),
  ];
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MESHPEER_LOG_LEVEL: 'info', ...opts.env },
  });
  const logs: string[] = [];
  const ready = new Promise<{ httpAddress: string; grpcAddress: string }>((resolveReady, reject) => {
    let buffer = '';
    const timer = setTimeout(() => {
      // Never leave a half-started server behind.
      child.kill('SIGKILL');
      reject(new Error(`server did not start in 20s:\n${logs.join('\n')}`));
    }, 20_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let nl = buffer.indexOf('\n');
      while (nl >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        logs.push(line);
        if (logs.length > 2000) logs.shift();
        try {
          const rec = JSON.parse(line) as { msg?: string; httpAddress?: string; grpcAddress?: string };
          if (rec.msg === 'server ready' && rec.httpAddress && rec.grpcAddress) {
            clearTimeout(timer);
            resolveReady({ httpAddress: rec.httpAddress, grpcAddress: rec.grpcAddress });
          }
        } catch {
          // not a JSON log line
        }
        nl = buffer.indexOf('\n');
      }
    });
    child.stdout?.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code ?? signal}) before it was ready:\n${logs.join('\n')}`));
    });
  });
  const addrs = await ready;
  const exited = new Promise<void>((r) => {
    if (child.exitCode !== null || child.signalCode !== null) r();
    else child.once('exit', () => r());
  });
  const cleanup = (): void => {
    if (ownsDir && dataDir !== undefined) {
      rmSync(dataDir, { recursive: true, force: true });
      tempDirs.delete(dataDir);
    }
  };
  return {
    child,
    pid: child.pid!,
    ...addrs,
    url: `http://${addrs.httpAddress}`,
    dataDir,
    logs,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      cleanup();
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** fetch + JSON with the status and X-Consul-Index, for tests. */
export async function api<T = unknown>(
  url: string,
  init: RequestInit & { json?: unknown } = {},
): Promise<{ status: number; body: T; text: string; index: number; headers: Headers }> {
  const { json, ...rest } = init;
  const res = await fetch(url, {
    ...rest,
    ...(json !== undefined ? { body: JSON.stringify(json), method: rest.method ?? 'PUT' } : {}),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // plain-text error bodies stay text
  }
  return {
    status: res.status,
    body: body as T,
    text,
    index: Number(res.headers.get('x-consul-index') ?? 0),
    headers: res.headers,
  };
}

/** Polls fn until it returns a truthy value or the timeout passes (bounded). */
export async function eventually<T>(
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 10_000,
  stepMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
}
