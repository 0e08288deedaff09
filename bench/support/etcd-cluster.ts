// A real etcd cluster of N members on loopback for benches and tests (test/support/etcd-cluster.ts builds
// the binary first when missing), using the etcd binary that scripts/k8s-build.sh builds for the
// Kubernetes tests (~/.cache/meshpeer/k8s/<version>/bin/etcd).
//
//   const etcd = await startEtcdCluster({ members: 3 });
//   etcd.endpoints;            // ['http://127.0.0.1:PORT', ...]
//   await etcd.stopMember(0);  // SIGTERM one member (its data stays); startMember(0) brings it back
//   await etcd.stop();         // every member, and the directory
//
// With { tls: true } the client URLs are https:// and members require a client certificate signed by
// the cluster's own CA (files in etcd.tls); peers talk plain HTTP on loopback.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/shared/testing/free-port.js';

export interface EtcdClusterOptions {
  members?: number;
  /** Keep etcd's fsync (benches); tests run with --unsafe-no-fsync for speed. */
  fsync?: boolean;
  /** Extra flags for every member. */
  extraArgs?: string[];
  /** https client URLs with client-certificate auth. */
  tls?: boolean;
}

export interface EtcdTlsFiles {
  /** The CA that signed the members' and the client's certificates. */
  ca: string;
  /** A client certificate and key the members accept. */
  cert: string;
  key: string;
}

export interface EtcdCluster {
  /** Client URLs, one per member, in member order. */
  readonly endpoints: string[];
  readonly dir: string;
  /** Set with { tls: true }. */
  readonly tls?: EtcdTlsFiles;
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

async function healthy(endpoint: string, tls: EtcdTlsFiles | undefined): Promise<boolean> {
  if (tls === undefined) {
    try {
      const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1_000) });
      return ((await res.json()) as { health?: string }).health === 'true';
    } catch {
      return false;
    }
  }
  return new Promise<boolean>((resolve) => {
    const req = https.get(
      `${endpoint}/health`,
      {
        ca: readFileSync(tls.ca),
        cert: readFileSync(tls.cert),
        key: readFileSync(tls.key),
        timeout: 1_000,
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => {
          body += d.toString();
        });
        res.on('end', () => resolve(body.includes('"health":"true"')));
      },
    );
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

/** A CA, a certificate for the members (127.0.0.1) and a client certificate, made with openssl. */
function makeTls(dir: string): EtcdTlsFiles {
  const f = (name: string): string => path.join(dir, name);
  const ssl = (...args: string[]): void => {
    execFileSync('openssl', args, { stdio: 'ignore' });
  };
  ssl(
    ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2'],
    ...['-subj', '/CN=meshpeer-test-etcd-ca', '-keyout', f('ca.key'), '-out', f('ca.pem')],
  );
  for (const [name, ext] of [
    ['member', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth'],
    ['client', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    ssl(
      ...['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`],
      ...['-keyout', f(`${name}.key`), '-out', f(`${name}.csr`)],
    );
    writeFileSync(f(`${name}.ext`), `${ext}\n`);
    ssl(
      ...['x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key')],
      ...['-CAcreateserial', '-days', '2', '-extfile', f(`${name}.ext`), '-out', f(`${name}.pem`)],
    );
  }
  return { ca: f('ca.pem'), cert: f('client.pem'), key: f('client.key') };
}

const live = new Set<ChildProcess>();
let exitHook = false;

export async function startEtcdCluster(options: EtcdClusterOptions = {}): Promise<EtcdCluster> {
  if (!existsSync(etcdBinary())) {
    throw new Error(`no etcd binary at ${etcdBinary()}: run scripts/k8s-build.sh (or set ETCD)`);
  }
  // A port picked free can be taken by someone else before etcd binds it: then try other ports.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (err) {
      if (attempt >= 3 || !(err instanceof MemberExited)) throw err;
    }
  }
}

class MemberExited extends Error {}

async function startOnce(options: EtcdClusterOptions): Promise<EtcdCluster> {
  const n = options.members ?? 3;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshpeer-etcd-'));
  const token = `meshpeer-${randomBytes(6).toString('hex')}`;
  const ports: Array<{ client: number; peer: number; http: number }> = [];
  const used = new Set<number>();
  while (ports.length < n) {
    const client = await freePort();
    const peer = await freePort();
    const http = await freePort();
    if (new Set([client, peer, http]).size < 3 || used.has(client) || used.has(peer) || used.has(http))
      continue;
    used.add(client).add(peer).add(http);
    ports.push({ client, peer, http });
  }
  const tls = options.tls ? makeTls(dir) : undefined;
  const endpoints = ports.map((p) => `${tls ? 'https' : 'http'}://127.0.0.1:${p.client}`);
  const tlsArgs =
    tls === undefined
      ? []
      : [
          ...['--cert-file', path.join(dir, 'member.pem'), '--key-file', path.join(dir, 'member.key')],
          ...['--trusted-ca-file', tls.ca, '--client-cert-auth'],
        ];
  // With TLS, etcd serves gRPC on a port that also serves HTTP through Go's HTTP/2 server, whose gRPC
  // streams did not deliver watch events to a second client here; a separate HTTP port keeps the client
  // port gRPC-only (the setup docs/etcd.md recommends).
  const httpUrl = (i: number): string => `https://127.0.0.1:${ports[i]!.http}`;
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
        ...tlsArgs,
        ...(tls === undefined ? [] : ['--listen-client-http-urls', httpUrl(i)]),
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
      const states = await Promise.all(
        which.map((i) => healthy(tls === undefined ? endpoints[i]! : httpUrl(i), tls)),
      );
      if (states.every(Boolean)) return;
      for (const i of which) {
        const child = procs[i];
        if (child === undefined || child.exitCode !== null) {
          throw new MemberExited(`etcd member m${i} exited:\n${log(i)}`);
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`etcd members ${which.join(',')} not healthy within 30 s:\n${which.map(log).join('\n')}`);
  };

  const cluster: EtcdCluster = {
    endpoints,
    dir,
    ...(tls === undefined ? {} : { tls }),
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
