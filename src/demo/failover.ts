// The demo's failover act: cluster-02 gets a `backend` of its own (app, sidecar, a check), frontend
// gets a local `backend` upstream, and a service-resolver in cluster-02 fails backend over to peer
// cluster-01. The local check is set critical: frontend's new requests are answered by cluster-01's
// backend through the mesh gateways; it passes again: they come home. Every request opens a new
// connection (a live one would stay where it was made).
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RunningComponent } from '../dataplane/component-process.js';
import type { Endpoint } from '../dataplane/endpoint.js';
import type { SidecarAddresses } from '../dataplane/proxy/index.js';
import { runProxy } from '../dataplane/run-proxy.js';
import type { Logger } from '../shared/logger.js';
import { call, type DemoCluster, waitFor } from './two-clusters.js';

const LOOPBACK: Endpoint = { host: '127.0.0.1', port: 0 };
const CHECK_ID = 'backend-cluster-02-alive';

export interface FailoverStage {
  /** frontend's local `backend` upstream, which fails over to peer cluster-01. */
  upstream: Endpoint;
  stop(): Promise<void>;
}

/** Sets up cluster-02's own backend, the resolver, and a frontend sidecar with a local upstream. */
export async function startFailoverStage(c2: DemoCluster, logger: Logger): Promise<FailoverStage> {
  const stops: Array<() => Promise<unknown>> = [];
  const stop = async (): Promise<void> => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const app = http.createServer((req, res) => {
      res.setHeader('content-type', 'text/plain');
      res.setHeader('connection', 'close');
      res.end(`hello from backend in cluster-02 (you asked for ${req.url})\n`);
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    stops.push(() => new Promise((r) => app.close(r)));
    const appAddress = { host: '127.0.0.1', port: (app.address() as AddressInfo).port };
    await call(c2.url, 'PUT', '/v1/agent/service/register', {
      Name: 'backend',
      ID: 'backend-cluster-02',
      Address: appAddress.host,
      Port: appAddress.port,
      Check: { CheckID: CHECK_ID, Name: 'backend alive', Status: 'passing' },
    });
    const common = { drainMs: 0, logger, configTimeoutMs: 20_000, meshGatewayService: 'mesh-gateway' };
    const sidecar = await runProxy({
      ...common,
      server: c2.url,
      service: 'backend',
      listen: LOOPBACK,
      app: appAddress,
      upstreams: [],
      defaultIntentionAction: 'deny',
      register: {},
    });
    stops.push(() => sidecar.stop());
    await call(c2.url, 'PUT', '/v1/config', {
      Kind: 'service-intentions',
      Name: 'backend',
      Sources: [{ Name: 'frontend', Action: 'allow' }],
    });
    await call(c2.url, 'PUT', '/v1/config', {
      Kind: 'service-resolver',
      Name: 'backend',
      ConnectTimeout: '3s',
      Failover: { '*': { Targets: [{ Peer: 'cluster-01' }] } },
    });
    const frontend: RunningComponent<SidecarAddresses> = await runProxy({
      ...common,
      server: c2.url,
      service: 'frontend',
      listen: LOOPBACK,
      upstreams: [{ name: 'backend', bind: LOOPBACK }],
      defaultIntentionAction: 'deny',
    });
    stops.push(() => frontend.stop());
    const upstream = frontend.started.upstreams[0]?.address;
    if (!upstream) throw new Error('the frontend sidecar has no local backend upstream');
    return { upstream, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** One GET on a new connection; '' when the mesh refused it. */
function getOnce(at: Endpoint): Promise<string> {
  return new Promise((resolve) => {
    const req = http.get({ host: at.host, port: at.port, path: '/hello', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve(body.trim()));
      res.on('error', () => resolve(body.trim()));
    });
    req.on('error', () => resolve(''));
    req.setTimeout(10_000, () => req.destroy());
  });
}

const answeredBy = (answer: string): string => /in (cluster-\d+)/.exec(answer)?.[1] ?? 'nobody';

/** Asks until `cluster` answers; returns how long that took and the answer. */
async function until(at: Endpoint, cluster: string, timeoutMs = 20_000) {
  const t0 = performance.now();
  let answer = '';
  await waitFor(async () => {
    answer = await getOnce(at);
    return answeredBy(answer) === cluster;
  }, timeoutMs);
  return { ms: performance.now() - t0, answer };
}

export async function failoverAct(
  stage: FailoverStage,
  c2: DemoCluster,
  say: (line: string) => void,
): Promise<void> {
  const fmt = (ms: number): string => `${ms.toFixed(0)} ms`;
  say('\nfailover: service-resolver "backend" in cluster-02 fails over to peer cluster-01');
  const home = await until(stage.upstream, 'cluster-02');
  say(`  frontend -> backend (local upstream ${stage.upstream.host}:${stage.upstream.port}): ${home.answer}`);

  await call(c2.url, 'PUT', `/v1/agent/check/fail/${CHECK_ID}`);
  say("  cluster-02's backend check set critical");
  const away = await until(stage.upstream, 'cluster-01');
  say(`  ${fmt(away.ms)} later: ${away.answer}   (through both mesh gateways, mTLS to cluster-01's backend)`);

  await call(c2.url, 'PUT', `/v1/agent/check/pass/${CHECK_ID}`);
  say("  cluster-02's backend check passing again");
  const back = await until(stage.upstream, 'cluster-02');
  say(`  ${fmt(back.ms)} later: ${back.answer}`);
}
