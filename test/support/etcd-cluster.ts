// A real etcd cluster of N members on loopback for tests and benches, using the etcd binary that
// scripts/k8s-build.sh builds for the Kubernetes tests (~/.cache/meshpeer/k8s/<version>/bin/etcd).
//
//   const etcd = await startEtcdCluster({ members: 3 });
//   etcd.endpoints;            // ['http://127.0.0.1:PORT', ...]
//   await etcd.stopMember(0);  // SIGTERM one member (its data stays); startMember(0) brings it back
//   await etcd.stop();         // every member, and the directory
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { buildKubeApiServer } from './kube-apiserver.js';

export interface EtcdClusterOptions {
  members?: number;
  /** Keep etcd's fsync (benches); tests run with --unsafe-no-fsync for speed. */
  fsync?: boolean;
  /** Extra flags for every member. */
  extraArgs?: string[];
}

export interface EtcdCluster {
  /** Client URLs, one per member, in member order. */
  readonly endpoints: string[];
  readonly dir: string;
  stopMember(i: number): Promise<void>;
  startMember(i: number): Promise<void>;
  /** Resolves once every running member reports healthy (the cluster has a leader). */
  waitHealthy(members?: number[]): Promise<void>;
  /** The last lines of a member's log, for failure messages. */
  log(i: number): string;
  stop(): Promise<void>;
}

export function etcdBinary(): string {
  if (process.env.ETCD) return process.env.ETCD;
  const cache = process.env.MESHPEER_CACHE ?? path.join(os.homedir(), '.cache', 'meshpeer');
  return path.join(cache, 'k8s', process.env.K8S_VERSION ?? 'v1.37.2', 'bin', 'etcd');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() =>
        typeof addr === 'object' && addr !== null ? resolve(addr.port) : reject(new Error('no port')),
      );
    });
  });
}

async function healthy(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1_000) });
    return ((await res.json()) as { health?: string }).health === 'true';
  } catch {
    return false;
  }
}

const live = new Set<ChildProcess>();
let exitHook = false;

export async function startEtcdCluster(options: EtcdClusterOptions = {}): Promise<EtcdCluster> {
  await buildKubeApiServer();
  const n = options.members ?? 3;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshpeer-etcd-'));
  const token = `meshpeer-${randomBytes(6).toString('hex')}`;
  const ports: Array<{ client: number; peer: number }> = [];
  const used = new Set<number>();
  while (ports.length < n) {
    const client = await freePort();
    const peer = await freePort();
    if (client === peer || used.has(client) || used.has(peer)) continue;
    used.add(client).add(peer);
    ports.push({ client, peer });
  }
  const endpoints = ports.map((p) => `http://127.0.0.1:${p.client}`);
  const initialCluster = ports.map((p, i) => `m${i}=http://127.0.0.1:${p.peer}`).join(',');
  const procs: Array<ChildProcess | undefined> = new Array(n).fill(undefined);
  const logFile = (i: number): string => path.join(dir, `m${i}.log`);

  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const p of live) p.kill('SIGKILL');
    });
  }

  const spawnMember = (i: number): void => {
    const p = ports[i]!;
    const out = openSync(logFile(i), 'a');
    const child = spawn(
      etcdBinary(),
      [
        '--name',
        `m${i}`,
        '--data-dir',
        path.join(dir, `m${i}.data`),
        '--listen-client-urls',
        endpoints[i]!,
        '--advertise-client-urls',
        endpoints[i]!,
        '--listen-peer-urls',
        `http://127.0.0.1:${p.peer}`,
        '--initial-advertise-peer-urls',
        `http://127.0.0.1:${p.peer}`,
        '--initial-cluster',
        initialCluster,
        '--initial-cluster-token',
        token,
        '--initial-cluster-state',
        'new',
        '--logger',
        'zap',
        '--log-level',
        'warn',
        ...(options.fsync ? [] : ['--unsafe-no-fsync']),
        ...(options.extraArgs ?? []),
      ],
      { stdio: ['ignore', out, out] },
    );
    procs[i] = child;
    live.add(child);
    child.on('exit', () => live.delete(child));
  };

  const stopMember = async (i: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    const child = procs[i];
    if (child === undefined) return;
    procs[i] = undefined;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };

  const log = (i: number): string => {
    try {
      return readFileSync(logFile(i), 'utf8').split('\n').slice(-20).join('\n');
    } catch {
      return '';
    }
  };

  const waitHealthy = async (members?: number[]): Promise<void> => {
    const which = members ?? procs.flatMap((p, i) => (p === undefined ? [] : [i]));
    for (let attempt = 0; attempt < 600; attempt++) {
      const states = await Promise.all(which.map((i) => healthy(endpoints[i]!)));
      if (states.every(Boolean)) return;
      for (const i of which) {
        const child = procs[i];
        if (child === undefined || child.exitCode !== null) {
          throw new Error(`etcd member m${i} exited:\n${log(i)}`);
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`etcd members ${which.join(',')} not healthy within 30 s:\n${which.map(log).join('\n')}`);
  };

  const cluster: EtcdCluster = {
    endpoints,
    dir,
    stopMember: (i) => stopMember(i),
    startMember: async (i) => {
      if (procs[i] !== undefined) return;
      spawnMember(i);
    },
    waitHealthy,
    log,
    stop: async () => {
      // The data goes away with the directory: no need for a graceful stop.
      await Promise.all(procs.map((_, i) => stopMember(i, 'SIGKILL')));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    for (let i = 0; i < n; i++) spawnMember(i);
    await waitHealthy();
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}
