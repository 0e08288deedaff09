// The "meshpeer (haproxy gateways)" path of the data-plane anchors benchmark: meshpeer's own sidecars
// (each a Node process, as in bench/dataplane.ts) with both mesh gateways run as `--engine haproxy` runs
// them: HaproxyGateway components rendering meshpeer's routes into HAProxy child processes. The hops
// measured are the sidecar processes and the HAProxy workers that carry the bytes.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { StaticConfigSource } from '../src/dataplane/config-source.js';
import type { Endpoint } from '../src/dataplane/endpoint.js';
import { type GatewayConfig, HaproxyGateway } from '../src/dataplane/gateway/index.js';
import {
  baseGatewayConfig,
  baseProxyConfig,
  exportsTo,
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

/** Starts the path to `app`, with the same clusters (CAs, names) as meshpeer's Node path. */
export async function startHaproxyGatewaysPath(
  exporter: TestCluster,
  importer: TestCluster,
  app: Endpoint,
  backendSni: string,
): Promise<AnchorPath> {
  const stoppers: (() => Promise<void>)[] = [];
  const close = async (): Promise<void> => {
    for (const stop of stoppers.reverse()) await stop();
  };
  try {
    const backend = await sidecarChild({
      type: 'sidecar',
      config: {
        ...baseProxyConfig(exporter, 'backend', await leafFor(exporter, 'backend')),
        peerBundles: [importer.bundle],
        inboundPeerBundles: [importer.bundle],
      },
      app,
      upstreams: [],
    });
    stoppers.push(() => backend.stop());
    const exporterGateway = new HaproxyGateway({
      config: new StaticConfigSource<GatewayConfig>({
        ...baseGatewayConfig(exporter),
        exportedServices: exportsTo('backend', importer.peerName),
        localServices: new Map([['backend', [backend.started.inbound as Endpoint]]]),
      }),
      listen: LOOPBACK,
    });
    const exporterAddress = await exporterGateway.start();
    stoppers.push(() => exporterGateway.stop());
    const importerGateway = new HaproxyGateway({
      config: new StaticConfigSource<GatewayConfig>({
        ...baseGatewayConfig(importer),
        peers: [
          {
            name: exporter.peerName,
            trustDomain: exporter.root.trustDomain,
            gateways: [exporterAddress],
            servers: [],
          },
        ],
      }),
      listen: LOOPBACK,
    });
    const importerAddress = await importerGateway.start();
    stoppers.push(() => importerGateway.stop());
    const frontend = await sidecarChild({
      type: 'sidecar',
      config: {
        ...baseProxyConfig(importer, 'frontend', await leafFor(importer, 'frontend')),
        peerBundles: [exporter.bundle],
        upstreams: [
          { name: 'backend', peer: exporter.peerName, instances: [exporterAddress], sni: backendSni },
        ],
        localGateways: [importerAddress],
        meshGatewayMode: 'local',
      },
      upstreams: [{ name: 'backend', peer: exporter.peerName, bind: LOOPBACK }],
    });
    stoppers.push(() => frontend.stop());
    return {
      name: 'meshpeer (haproxy gateways)',
      entry: frontend.started.upstreams[0] as Endpoint,
      hops: [
        { name: 'frontend sidecar', pid: frontend.pid },
        { name: 'importer gateway', pid: importerGateway.workerPid },
        { name: 'exporter gateway', pid: exporterGateway.workerPid },
        { name: 'backend sidecar', pid: backend.pid },
      ],
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
