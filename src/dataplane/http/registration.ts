// Registering a gateway or sidecar with the local agent API, and taking it away again on shutdown.
// The registration carries a TTL check (healthTtlMs) that the process keeps passing while it runs, so
// a process that dies without deregistering turns critical once the TTL passes.
import type { Endpoint } from '../endpoint.js';
import type { ConsulApi } from './consul-api.js';

export interface Registration {
  id: string;
  name: string;
  kind: 'mesh-gateway' | 'connect-proxy';
  address: Endpoint;
  /** A mesh gateway's address for peers (TaggedAddresses.wan), when not `address`. */
  wan?: Endpoint;
  /** For a sidecar: the service it fronts, its app port and its upstreams. */
  proxy?: {
    destinationServiceName: string;
    localServicePort?: number;
    upstreams?: { destinationName: string; destinationPeer?: string; localBindPort: number }[];
  };
  meta?: Record<string, string>;
  /** The TTL of the "process alive" check (see aliveCheckId); undefined: no check. */
  healthTtlMs?: number;
}

/** The CheckID of a registered process's TTL check. */
export const aliveCheckId = (serviceId: string): string => `${serviceId}:alive`;

/** The agent registration body, in Consul's JSON shape. */
export function registrationBody(r: Registration): Record<string, unknown> {
  // Capitalised as Consul's Go structs spell them (Consul's JSON decoding accepts either case).
  const address = { Address: r.address.host, Port: r.address.port };
  return {
    ID: r.id,
    Name: r.name,
    Kind: r.kind,
    Address: r.address.host,
    Port: r.address.port,
    ...(r.kind === 'mesh-gateway'
      ? {
          TaggedAddresses: { lan: address, wan: r.wan ? { Address: r.wan.host, Port: r.wan.port } : address },
        }
      : {}),
    ...(r.meta ? { Meta: r.meta } : {}),
    ...(r.healthTtlMs !== undefined
      ? {
          // Passing from the start: the registering process is alive (no critical moment before a pass).
          Check: {
            CheckID: aliveCheckId(r.id),
            Name: 'meshpeer process alive',
            TTL: `${r.healthTtlMs}ms`,
            Status: 'passing',
          },
        }
      : {}),
    ...(r.proxy
      ? {
          Proxy: {
            DestinationServiceName: r.proxy.destinationServiceName,
            ...(r.proxy.localServicePort ? { LocalServicePort: r.proxy.localServicePort } : {}),
            Upstreams: (r.proxy.upstreams ?? []).map((u) => ({
              DestinationName: u.destinationName,
              ...(u.destinationPeer ? { DestinationPeer: u.destinationPeer } : {}),
              LocalBindPort: u.localBindPort,
            })),
          },
        }
      : {}),
  };
}

export async function register(api: ConsulApi, registration: Registration): Promise<void> {
  await api.put('/v1/agent/service/register', registrationBody(registration));
}

/** Marks a registered process's TTL check passing (which restarts its TTL). */
export async function passAliveCheck(api: ConsulApi, serviceId: string): Promise<void> {
  await api.put(`/v1/agent/check/pass/${encodeURIComponent(aliveCheckId(serviceId))}`);
}

export async function deregister(api: ConsulApi, id: string): Promise<void> {
  await api.put(`/v1/agent/service/deregister/${encodeURIComponent(id)}`);
}
