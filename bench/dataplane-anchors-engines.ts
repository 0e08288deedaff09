// The meshpeer paths of the data-plane anchors benchmark that run engines: both mesh gateways as
// `gateway --engine haproxy` or `--engine nginx` runs them (HaproxyGateway, NginxGateway rendering
// meshpeer's routes into HAProxy or nginx child processes), with either meshpeer's Node sidecars (each a
// Node process, as in bench/dataplane.ts) or sidecars as `proxy --engine haproxy` or `--engine nginx`
// runs them (meshpeer's identity, intention and upstream decisions rendered into the engine). The hops
// measured are the processes that carry the bytes: Node sidecar processes or engine workers.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { StaticConfigSource } from '../src/dataplane/config-source.js';
import type { Endpoint } from '../src/dataplane/endpoint.js';
import { type GatewayConfig, HaproxyGateway, NginxGateway } from '../src/dataplane/gateway/index.js';
import type { ProxyConfig, ProxyLeaf, UpstreamSpec } from '../src/dataplane/proxy/config.js';
import {
  baseGatewayConfig,
  baseProxyConfig,
  exportsTo,
  importerGatewayConfig,
  leafFor,
  type TestCluster,
} from '../src/dataplane/testing/two-clusters.js';
import type { ChildReply, ChildRequest } from './dataplane-child.js';
import type { AnchorPath } from './support/anchor-proxies.js';

const LOOPBACK: Endpoint = { host: '127.0.0.1', port: 0 };

interface SidecarChild {
  pid: number;
  started: Extract<ChildReply, { type: 'started' }>;
  stop(): Promise<void>;
}

async function sidecarChild(request: Extract<ChildRequest, { type: 'sidecar' }>): Promise<SidecarChild> {
  const child = fork(fileURLToPath(new URL('./dataplane-child.js', import.meta.url)), {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null) return;
    const exited = once(child, 'exit');
    child.send({ type: 'stop' } satisfies ChildRequest);
    await exited;
  };
  const reply = once(child, 'message') as Promise<[ChildReply]>;
  child.send(request);
  const [message] = await reply;
  if (message.type !== 'started') {
    await stop();
    throw new Error(`sidecar child answered ${message.type}`);
  }
  return { pid: child.pid ?? 0, started: message, stop };
}

export type SidecarEngine = 'node' | 'haproxy' | 'nginx';

interface RunningSidecar {
  /** The process carrying the bytes. */
  pid: number;
  /** meshpeer's own process beside an engine (rendering, reloads, telemetry). */
  controlPid?: number;
  inbound?: Endpoint;
  upstream?: Endpoint;
}

/**
 * One sidecar of the path in its own process (bench/dataplane-child.ts): a Node sidecar, or the meshpeer
 * half of a HAProxy or nginx sidecar with its engine as that process's child.
 */
async function startSidecar(
  engine: SidecarEngine,
  config: ProxyConfig,
  stoppers: (() => Promise<void>)[],
  options: { app?: Endpoint; upstreams: UpstreamSpec[] },
): Promise<RunningSidecar> {
  const child = await sidecarChild({ type: 'sidecar', config, engine, ...options });
  stoppers.push(() => child.stop());
  return {
    pid: child.started.workerPid ?? child.pid,
    ...(child.started.workerPid !== undefined ? { controlPid: child.pid } : {}),
    ...(child.started.inbound ? { inbound: child.started.inbound as Endpoint } : {}),
    ...(child.started.upstreams[0] ? { upstream: child.started.upstreams[0] as Endpoint } : {}),
  };
}

export type GatewayEngine = 'haproxy' | 'nginx';

/** The meshpeer paths with engines the bench measures: gateways' engine, sidecars' engine. */
export const ENGINE_PATHS: readonly [GatewayEngine, SidecarEngine][] = [
  ['haproxy', 'node'],
  ['haproxy', 'haproxy'],
  ['haproxy', 'nginx'],
  ['nginx', 'nginx'],
];

export function engineGatewaysPathName(gateways: GatewayEngine, sidecars: SidecarEngine): string {
  if (gateways === sidecars) return `meshpeer (${gateways} engines)`;
  return sidecars === 'node'
    ? `meshpeer (${gateways} gateways)`
    : `meshpeer (${gateways} gateways, ${sidecars} sidecars)`;
}

/**
 * Starts the path to `app`, with the same clusters (CAs, names) as meshpeer's Node path. The backend's
 * leaf must name `backendSni` (as the leaf route gives it to an exported service) for HAProxy sidecars.
 */
export async function startEngineGatewaysPath(
  exporter: TestCluster,
  importer: TestCluster,
  app: Endpoint,
  backendSni: string,
  engines: { gateways: GatewayEngine; sidecars: SidecarEngine },
  backendLeaf?: ProxyLeaf,
): Promise<AnchorPath> {
  const { gateways, sidecars } = engines;
  const gateway = (config: GatewayConfig): HaproxyGateway | NginxGateway =>
    gateways === 'haproxy'
      ? new HaproxyGateway({ config: new StaticConfigSource(config), listen: LOOPBACK })
      : new NginxGateway({ config: new StaticConfigSource(config), listen: LOOPBACK });
  const stoppers: (() => Promise<void>)[] = [];
  const close = async (): Promise<void> => {
    for (const stop of stoppers.reverse()) await stop();
  };
  try {
    const backend = await startSidecar(
      sidecars,
      {
        ...baseProxyConfig(exporter, 'backend', backendLeaf ?? (await leafFor(exporter, 'backend'))),
        peerBundles: [importer.bundle],
        inboundPeerBundles: [importer.bundle],
      },
      stoppers,
      { app, upstreams: [] },
    );
    const exporterGateway = gateway({
      ...baseGatewayConfig(exporter),
      exportedServices: exportsTo('backend', importer.peerName),
      localServices: new Map([['backend', [backend.inbound as Endpoint]]]),
    });
    const exporterAddress = await exporterGateway.start();
    stoppers.push(() => exporterGateway.stop());
    const importerGateway = gateway(importerGatewayConfig(importer, exporter, [exporterAddress]));
    const importerAddress = await importerGateway.start();
    stoppers.push(() => importerGateway.stop());
    const frontend = await startSidecar(
      sidecars,
      {
        ...baseProxyConfig(importer, 'frontend', await leafFor(importer, 'frontend')),
        peerBundles: [exporter.bundle],
        upstreams: [
          { name: 'backend', peer: exporter.peerName, instances: [exporterAddress], sni: backendSni },
        ],
        localGateways: [importerAddress],
        meshGatewayMode: 'local',
      },
      stoppers,
      { upstreams: [{ name: 'backend', peer: exporter.peerName, bind: LOOPBACK }] },
    );
    return {
      name: engineGatewaysPathName(gateways, sidecars),
      entry: frontend.upstream as Endpoint,
      hops: [
        { name: 'frontend sidecar', pid: frontend.pid },
        { name: 'importer gateway', pid: importerGateway.workerPid },
        { name: 'exporter gateway', pid: exporterGateway.workerPid },
        { name: 'backend sidecar', pid: backend.pid },
        // What meshpeer itself spends beside its engines (telemetry, per connection) counts too.
        ...(frontend.controlPid ? [{ name: 'frontend sidecar meshpeer', pid: frontend.controlPid }] : []),
        ...(backend.controlPid ? [{ name: 'backend sidecar meshpeer', pid: backend.controlPid }] : []),
      ],
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
