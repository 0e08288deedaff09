// The demo's data plane: `backend`'s sidecar in cluster-01, a mesh gateway in each
// cluster, and a `frontend` sidecar in cluster-02 whose upstream reaches backend through both gateways
// (mesh gateway mode `local` in cluster-02). One request crosses and the path it took is read back
// from the gateways' own counters.
import type { RunningComponent } from '../dataplane/component-process.js';
import type { Endpoint } from '../dataplane/endpoint.js';
import type { SidecarAddresses } from '../dataplane/proxy/index.js';
import { runGateway } from '../dataplane/run-gateway.js';
import { runProxy } from '../dataplane/run-proxy.js';
import type { Logger } from '../shared/logger.js';
import type { DemoCluster } from './two-clusters.js';
import { call, waitFor } from './two-clusters.js';

const LOOPBACK: Endpoint = { host: '127.0.0.1', port: 0 };

export interface DemoTraffic {
  backendApp: Endpoint;
  backendSidecar: Endpoint;
  gateways: { cluster: string; address: Endpoint; metrics: Endpoint }[];
  frontendUpstream: Endpoint;
  stop(): Promise<void>;
}

export async function startTraffic(
  [c1, c2]: [DemoCluster, DemoCluster],
  backendApp: Endpoint,
  logger: Logger,
): Promise<DemoTraffic> {
  const stops: Array<() => Promise<unknown>> = [];
  const stop = async (): Promise<void> => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const common = { drainMs: 0, logger, configTimeoutMs: 20_000 };

    const gateways: DemoTraffic['gateways'] = [];
    for (const c of [c1, c2]) {
      const gw = await runGateway({
        ...common,
        server: c.url,
        datacenter: c.name,
        listen: LOOPBACK,
        serviceName: 'mesh-gateway',
        register: {},
        localServers: [],
        metrics: LOOPBACK,
      });
      stops.push(() => gw.stop());
      gateways.push({ cluster: c.name, address: gw.started, metrics: gw.metrics as Endpoint });
    }

    const backend = await runProxy({
      ...common,
      server: c1.url,
      service: 'backend',
      listen: LOOPBACK,
      app: backendApp,
      upstreams: [],
      meshGatewayService: 'mesh-gateway',
      defaultIntentionAction: 'deny',
      register: {},
    });
    stops.push(() => backend.stop());
    // Default deny on the backend's sidecar: only frontend from peer cluster-02 may call it.
    await call(c1.url, 'PUT', '/v1/config', {
      Kind: 'service-intentions',
      Name: 'backend',
      Sources: [{ Name: 'frontend', Peer: 'cluster-02', Action: 'allow' }],
    });
    await call(c2.url, 'PUT', '/v1/config', {
      Kind: 'proxy-defaults',
      Name: 'global',
      MeshGateway: { Mode: 'local' },
    });

    await waitFor(async () => {
      const imported = (await call(c2.url, 'GET', '/v1/health/connect/backend?peer=cluster-01')) as Array<{
        Service: { Port: number };
      }>;
      return imported.some((i) => i.Service.Port === gateways[0]?.address.port);
    }, 20_000);

    const frontend: RunningComponent<SidecarAddresses> = await runProxy({
      ...common,
      server: c2.url,
      service: 'frontend',
      listen: LOOPBACK,
      upstreams: [{ name: 'backend', peer: 'cluster-01', bind: LOOPBACK }],
      meshGatewayService: 'mesh-gateway',
      defaultIntentionAction: 'deny',
    });
    stops.push(() => frontend.stop());
    const upstream = frontend.started.upstreams[0]?.address;
    if (upstream === undefined) throw new Error('the frontend sidecar has no upstream listener');
    return {
      backendApp,
      backendSidecar: backend.started.inbound as Endpoint,
      gateways,
      frontendUpstream: upstream,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** frontend's request: plain HTTP to its sidecar's upstream listener; the mesh does the rest. */
export async function callBackend(traffic: DemoTraffic): Promise<string> {
  let last: unknown;
  for (let attempt = 0; attempt < 40; attempt++) {
    try {
      const res = await fetch(
        `http://${traffic.frontendUpstream.host}:${traffic.frontendUpstream.port}/hello`,
      );
      return await res.text();
    } catch (err) {
      // The sidecars pick up their certificates and routes within moments of starting.
      last = err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`frontend could not reach backend through the mesh: ${String(last)}`);
}

/** Connections each gateway forwarded, by route, read from its /metrics. */
export async function gatewayCounts(
  traffic: DemoTraffic,
): Promise<Array<{ cluster: string; routes: Record<string, number> }>> {
  const out = [];
  for (const g of traffic.gateways) {
    const text = await (await fetch(`http://${g.metrics.host}:${g.metrics.port}/metrics`)).text();
    const routes: Record<string, number> = {};
    for (const m of text.matchAll(
      /^meshpeer_gateway_connections_forwarded_total\{route="([^"]+)"\} (\d+)/gm,
    )) {
      routes[m[1] ?? ''] = Number(m[2]);
    }
    out.push({ cluster: g.cluster, routes });
  }
  return out;
}
