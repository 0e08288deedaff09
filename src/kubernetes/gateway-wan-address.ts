// Where peers reach this cluster's mesh gateways when consul-k8s's meshGateway.wanAddress.source is
// "Service": read from the gateway's Kubernetes Service (LoadBalancer ingress, a node's address with the
// NodePort, or the ClusterIP), with the port the Service exposes. `meshpeer gateway --advertise-service`
// registers the gateway with it; the other sources (NodeIP, NodeName, Static) need no API call.
import { CoreV1Api, type KubeConfig, type V1Service } from '@kubernetes/client-node';
import type { Logger } from '../shared/logger.js';
import { toKubeError } from './kube-api.js';

export interface WanAddress {
  host: string;
  port: number;
  /** How it was found, for logs: "LoadBalancer ingress of mesh/consul-mesh-gateway". */
  from: string;
}

/** Not known yet (no ingress assigned), with the reason. */
export interface PendingWanAddress {
  pending: string;
}

/** The Service's port peers use: the one named "gateway" (as the chart names it), else the first. */
function gatewayPort(service: V1Service) {
  const ports = service.spec?.ports ?? [];
  return ports.find((p) => p.name === 'gateway') ?? ports[0];
}

/**
 * The address peers dial for a gateway behind `service`. `nodeAddress` is the address of the node the
 * gateway runs on (status.hostIP), used with a NodePort Service.
 */
export function wanAddressFromService(
  service: V1Service,
  nodeAddress: string | undefined,
): WanAddress | PendingWanAddress {
  const id = `${service.metadata?.namespace}/${service.metadata?.name}`;
  const port = gatewayPort(service);
  if (!port) return { pending: `Service ${id} has no port` };
  const type = service.spec?.type ?? 'ClusterIP';
  switch (type) {
    case 'LoadBalancer': {
      const ingress = service.status?.loadBalancer?.ingress?.find((i) => i.ip || i.hostname);
      const host = ingress?.ip || ingress?.hostname;
      if (!host) return { pending: `the LoadBalancer of Service ${id} has no ingress address yet` };
      return { host, port: port.port, from: `LoadBalancer ingress of Service ${id}` };
    }
    case 'NodePort': {
      if (!port.nodePort) return { pending: `Service ${id} has no node port yet` };
      if (!nodeAddress) {
        return {
          pending: `Service ${id} is a NodePort: the node's address is needed (--advertise-node-address)`,
        };
      }
      return { host: nodeAddress, port: port.nodePort, from: `node port of Service ${id} on ${nodeAddress}` };
    }
    case 'ClusterIP': {
      const host = service.spec?.clusterIP;
      if (!host || host === 'None') return { pending: `Service ${id} has no cluster IP` };
      return { host, port: port.port, from: `cluster IP of Service ${id}` };
    }
    default:
      return { pending: `Service ${id} is of type ${type}, which has no address peers can dial` };
  }
}

export interface ResolveOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  name: string;
  nodeAddress: string | undefined;
  /** Give up after this long (a LoadBalancer may take minutes; the pod then restarts and tries again). */
  timeoutMs: number;
  logger: Logger;
  signal?: AbortSignal;
}

/** Reads the Service until it has an address peers can dial (every 2 s, logging why it waits). */
export async function resolveServiceWanAddress(opts: ResolveOptions): Promise<WanAddress> {
  const api = opts.kubeConfig.makeApiClient(CoreV1Api);
  const deadline = Date.now() + opts.timeoutMs;
  let lastReason = '';
  for (;;) {
    let reason: string;
    try {
      const service = await api.readNamespacedService({ namespace: opts.namespace, name: opts.name });
      const found = wanAddressFromService(service, opts.nodeAddress);
      if (!('pending' in found)) return found;
      reason = found.pending;
    } catch (err) {
      reason = toKubeError(err, `read Service ${opts.namespace}/${opts.name}`).message;
    }
    if (reason !== lastReason) opts.logger.info({ reason }, 'waiting for the mesh gateway Service address');
    lastReason = reason;
    if (Date.now() + 2_000 > deadline || opts.signal?.aborted) {
      throw new Error(`no WAN address for the mesh gateway: ${reason}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 2_000));
  }
}
