// One data-plane component (a mesh gateway or a sidecar) alone in its own process, as in production,
// so the benchmark measures each on its own event loop and can read a gateway's memory on its own.
// Driven over IPC by bench/dataplane.ts and bench/dataplane-anchors-engines.ts. A sidecar on the HAProxy or
// nginx engine runs its meshpeer half here (rendering, reloads, telemetry) and its engine as our child,
// as `meshpeer proxy --engine ...` does: the benchmark's own event loop never carries a sidecar's work.
import { StaticConfigSource } from '../src/dataplane/config-source.js';
import type { Endpoint } from '../src/dataplane/endpoint.js';
import { type GatewayConfig, MeshGateway } from '../src/dataplane/gateway/index.js';
import { HaproxySidecar } from '../src/dataplane/proxy/haproxy-sidecar.js';
import { type ProxyConfig, Sidecar, type UpstreamSpec } from '../src/dataplane/proxy/index.js';
import { NginxSidecar } from '../src/dataplane/proxy/nginx-sidecar.js';

/** GatewayConfig as it crosses IPC: the Map as entries. */
export type WireGatewayConfig = Omit<GatewayConfig, 'localServices'> & {
  localServices: [string, readonly Endpoint[]][];
};

export type ChildRequest =
  | { type: 'gateway'; config: WireGatewayConfig }
  | {
      type: 'sidecar';
      config: ProxyConfig;
      app?: Endpoint;
      upstreams: UpstreamSpec[];
      /** Who carries the bytes; default node (this process). */
      engine?: 'node' | 'haproxy' | 'nginx';
    }
  | { type: 'memory' }
  | { type: 'stop' };

export type ChildReply =
  | {
      type: 'started';
      inbound?: Endpoint;
      upstreams: Endpoint[];
      /** The engine's worker process (HAProxy, nginx) carrying the bytes; absent for node. */
      workerPid?: number;
    }
  | { type: 'memory'; rss: number; live: number; cpuMs: number };

const LOOPBACK: Endpoint = { host: '127.0.0.1', port: 0 };
let gateway: MeshGateway | undefined;
let sidecar: Sidecar | HaproxySidecar | NginxSidecar | undefined;

function reply(message: ChildReply): void {
  process.send?.(message);
}

// A benchmark that dies without stopping us must not leave us running.
process.on('disconnect', () => process.exit(0));

process.on('message', async (message: ChildRequest) => {
  if (message.type === 'gateway') {
    const config: GatewayConfig = { ...message.config, localServices: new Map(message.config.localServices) };
    gateway = new MeshGateway({ config: new StaticConfigSource(config), listen: LOOPBACK });
    reply({ type: 'started', inbound: await gateway.start(), upstreams: [] });
  } else if (message.type === 'sidecar') {
    const options = {
      config: new StaticConfigSource(message.config),
      inbound: message.app ? { listen: LOOPBACK, app: message.app } : undefined,
      upstreams: message.upstreams,
    };
    const engine = message.engine ?? 'node';
    const started =
      engine === 'node'
        ? new Sidecar(options)
        : engine === 'haproxy'
          ? new HaproxySidecar(options)
          : new NginxSidecar(options);
    sidecar = started;
    const addresses = await started.start();
    reply({
      type: 'started',
      inbound: addresses.inbound,
      upstreams: addresses.upstreams.map((u) => u.address),
      ...(started instanceof Sidecar ? {} : { workerPid: started.workerPid }),
    });
  } else if (message.type === 'memory') {
    // Collected twice so what is measured is what connections hold, not garbage awaiting collection.
    globalThis.gc?.();
    globalThis.gc?.();
    const cpu = process.cpuUsage();
    reply({
      type: 'memory',
      rss: process.memoryUsage().rss,
      live: gateway?.liveConnections ?? 0,
      cpuMs: (cpu.user + cpu.system) / 1000,
    });
  } else {
    await Promise.all([gateway?.stop(), sidecar?.stop()]);
    process.exit(0);
  }
});
