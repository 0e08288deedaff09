// Failover time (issue 17): from the moment the local backend's check is set critical to the first
// request answered by the peer's backend through the mesh gateways, and back again once it passes.
// Two real `meshpeer server` processes, peered; the gateways and sidecars are real `meshpeer gateway` and
// `meshpeer proxy` processes that follow the servers through their blocking watches (no polling). This
// process is only frontend's app and the backend apps. frontend's app keeps
// asking (one new connection per request) the whole time, so a request refused or sent to a critical
// instance during a switch would show.
//   node dist/bench/failover.js            (or: npm run bench -- failover)
//   MESHPEER_BENCH_FAILOVER_N=50           iterations per mode (default 30)
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Endpoint } from '../src/dataplane/endpoint.js';
import { type EchoServer, echoOnce, startNamedEchoServer } from '../src/dataplane/testing/traffic.js';
import { freePort } from '../src/shared/testing/free-port.js';
import { percentile, runWhenInvokedDirectly } from './support/measure.js';
import { type BenchServer, startBenchServer } from './support/server-process.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const SWITCH_TIMEOUT_MS = 30_000;

export interface FailoverSamples {
  mode: 'remote' | 'local';
  n: number;
  /** Check set critical -> first request answered by the peer. */
  failoverMs: { p50: number; p99: number; max: number };
  /** Check set passing -> first request answered locally again. */
  returnMs: { p50: number; p99: number; max: number };
  /** Check set critical -> a blocking query on /v1/health/service/backend answers: the server's share. */
  serverWakeMs: { p50: number; p99: number; max: number };
  /** Requests refused (answered by nobody) while switching, both ways, over all iterations. */
  refused: number;
  /** Requests answered by the local backend after the peer had answered, before it passed again. */
  sentToCritical: number;
}

async function call(url: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${url}${path}`, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status}: ${text}`);
  return text ? JSON.parse(text) : undefined;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `meshpeer gateway|proxy <args>`; resolves once it prints `ready`, with a stop that waits for its exit. */
async function component(
  kind: 'gateway' | 'proxy',
  args: string[],
  ready: RegExp,
): Promise<() => Promise<void>> {
  const child: ChildProcess = spawn(process.execPath, [CLI, kind, ...args, '--drain-seconds', '0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, MESHPEER_LOG_LEVEL: 'warn' },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // If this process ends first (an error, a timeout's SIGTERM), the component goes with it.
  const orphaned = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.once('exit', orphaned);
  const stop = async (): Promise<void> => {
    process.off('exit', orphaned);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${kind} did not start in 60 s:\n${log}`)), 60_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-16_384);
      if (ready.test(log)) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${kind} exited before it was ready:\n${log}`));
    });
  }).catch(async (err: unknown) => {
    await stop();
    throw err;
  });
  return stop;
}

interface Mesh {
  home: BenchServer;
  peer: BenchServer;
  localApp: EchoServer;
  peerApp: EchoServer;
  upstream: Endpoint;
  stop(): Promise<void>;
}

async function startMesh(): Promise<Mesh> {
  const stops: (() => Promise<unknown>)[] = [];
  const stop = async (): Promise<void> => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const [peer, home] = await Promise.all([startBenchServer('dc1'), startBenchServer('dc2')]);
    stops.push(
      () => peer.stop(),
      () => home.stop(),
    );
    const [localApp, peerApp] = await Promise.all([
      startNamedEchoServer('local'),
      startNamedEchoServer('peer'),
    ]);
    stops.push(
      () => localApp.close(),
      () => peerApp.close(),
    );
    for (const [server, app] of [
      [peer, peerApp],
      [home, localApp],
    ] as const) {
      await call(server.url, 'PUT', '/v1/agent/service/register', {
        ID: 'backend-1',
        Name: 'backend',
        Address: '127.0.0.1',
        Port: app.address.port,
        Check: { CheckID: 'backend-alive', Name: 'alive', Status: 'passing' },
      });
      const common = ['--server', server.url, '--listen', '127.0.0.1:0', '--register'];
      stops.push(
        await component(
          'proxy',
          [
            ...common,
            '--service',
            'backend',
            '--app-port',
            String(app.address.port),
            '--default-intention',
            'allow',
          ],
          /inbound mTLS on/,
        ),
      );
      stops.push(await component('gateway', common, /mesh gateway listening on/));
    }
    await call(peer.url, 'PUT', '/v1/config', {
      Kind: 'exported-services',
      Name: 'default',
      Services: [{ Name: 'backend', Consumers: [{ Peer: 'cluster-02' }] }],
    });
    const { PeeringToken } = (await call(peer.url, 'POST', '/v1/peering/token', {
      PeerName: 'cluster-02',
    })) as {
      PeeringToken: string;
    };
    await call(home.url, 'POST', '/v1/peering/establish', { PeerName: 'cluster-01', PeeringToken });
    await waitFor(
      async () =>
        ((await call(home.url, 'GET', '/v1/health/connect/backend?peer=cluster-01')) as unknown[]).length > 0,
      30_000,
      'backend imported from cluster-01',
    );
    await call(home.url, 'PUT', '/v1/config', {
      Kind: 'service-resolver',
      Name: 'backend',
      ConnectTimeout: '2s',
      Failover: { '*': { Targets: [{ Peer: 'cluster-01' }] } },
    });
    const upstream = { host: '127.0.0.1', port: await freePort() };
    stops.push(
      await component(
        'proxy',
        [
          '--server',
          home.url,
          '--listen',
          '127.0.0.1:0',
          '--service',
          'frontend',
          '--upstream',
          `backend:${upstream.port}`,
          '--default-intention',
          'allow',
        ],
        /upstream backend on/,
      ),
    );
    return { home, peer, localApp, peerApp, upstream, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function ask(upstream: Endpoint): Promise<string> {
  const answer = (await echoOnce(upstream, 'x')).toString();
  return answer.slice(0, Math.max(answer.indexOf(':'), 0));
}

/** Asks until `who` answers; returns when, and what else answered meanwhile. */
async function until(
  upstream: Endpoint,
  who: string,
): Promise<{ at: number; refused: number; others: number }> {
  const deadline = performance.now() + SWITCH_TIMEOUT_MS;
  let refused = 0;
  let others = 0;
  for (;;) {
    const answer = await ask(upstream);
    if (answer === who) return { at: performance.now(), refused, others };
    if (answer === '') refused++;
    else others++;
    if (performance.now() > deadline) throw new Error(`no answer from ${who} within ${SWITCH_TIMEOUT_MS} ms`);
  }
}

/** Blocking queries from the current index until the answer shows a critical check; resolves with when. */
async function blockingWatch(url: string, path: string): Promise<{ critical: Promise<number> }> {
  const first = await fetch(`${url}${path}`);
  await first.text();
  let index = first.headers.get('x-consul-index') ?? '0';
  const critical = (async () => {
    for (;;) {
      const res = await fetch(`${url}${path}?index=${index}&wait=30s`);
      const at = performance.now();
      const body = await res.text();
      if (body.includes('"Status":"critical"')) return at;
      index = res.headers.get('x-consul-index') ?? index;
    }
  })();
  // Wrapped: an async function would wait for a promise it returns.
  return { critical };
}

async function measure(mesh: Mesh, mode: 'remote' | 'local', n: number): Promise<FailoverSamples> {
  await call(mesh.home.url, 'PUT', '/v1/config', {
    Kind: 'proxy-defaults',
    Name: 'global',
    MeshGateway: { Mode: mode },
  });
  const check = (status: 'pass' | 'fail') =>
    call(mesh.home.url, 'PUT', `/v1/agent/check/${status}/backend-alive`);
  // The mode change reaches the sidecar through its watch; make sure the peer path works in it.
  await check('fail');
  await until(mesh.upstream, 'peer');
  await check('pass');
  await until(mesh.upstream, 'local');

  const failover: number[] = [];
  const back: number[] = [];
  const wake: number[] = [];
  let refused = 0;
  let sentToCritical = 0;
  for (let i = 0; i < n; i++) {
    const watching = await blockingWatch(mesh.home.url, '/v1/health/service/backend');
    const t0 = performance.now();
    await check('fail');
    const away = await until(mesh.upstream, 'peer');
    failover.push(away.at - t0);
    wake.push((await watching.critical) - t0);
    refused += away.refused;
    // Once the peer answered, the critical instance must get nothing until it passes again.
    for (let k = 0; k < 3; k++) if ((await ask(mesh.upstream)) === 'local') sentToCritical++;
    const t1 = performance.now();
    await check('pass');
    const home = await until(mesh.upstream, 'local');
    back.push(home.at - t1);
    refused += home.refused;
  }
  const stats = (s: number[]) => ({ p50: percentile(s, 0.5), p99: percentile(s, 0.99), max: Math.max(...s) });
  return {
    mode,
    n,
    failoverMs: stats(failover),
    returnMs: stats(back),
    serverWakeMs: stats(wake),
    refused,
    sentToCritical,
  };
}

export async function main(): Promise<FailoverSamples[]> {
  const n = Number(process.env.MESHPEER_BENCH_FAILOVER_N ?? 30);
  const mesh = await startMesh();
  try {
    const results = [await measure(mesh, 'remote', n), await measure(mesh, 'local', n)];
    const f = (x: number): string => x.toFixed(1);
    process.stdout.write(
      'failover: frontend -> backend upstream, service-resolver Failover to peer cluster-01; local check set ' +
        'critical -> first request answered by the peer (and back once it passes); one new connection per request\n',
    );
    for (const r of results) {
      process.stdout.write(
        `  ${r.mode} mode (n=${r.n}): failover p50 ${f(r.failoverMs.p50)} ms p99 ${f(r.failoverMs.p99)} ms ` +
          `max ${f(r.failoverMs.max)} ms; return p50 ${f(r.returnMs.p50)} ms p99 ${f(r.returnMs.p99)} ms; ` +
          `server's share (check write -> blocking query answered) p50 ${f(r.serverWakeMs.p50)} ms ` +
          `p99 ${f(r.serverWakeMs.p99)} ms; refused during switches ${r.refused}; sent to the critical instance after failover ${r.sentToCritical}` +
          ` (goal p99 < 1000 ms: ${r.failoverMs.p99 < 1000 ? 'met' : 'missed'})\n`,
      );
    }
    return results;
  } finally {
    await mesh.stop();
  }
}

runWhenInvokedDirectly(import.meta.url, main);
