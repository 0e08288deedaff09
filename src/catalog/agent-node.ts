// The server's own node, registered at start-up as a Consul server registers itself: the node with its
// addresses and meta (the network segment and the Consul API version it speaks), the passing
// `serfHealth` node check and the `consul` service. Clients (and HashiCorp's own test helpers) wait for
// exactly these before they use a server.

import { formatHostPort, parseHostPort } from '../shared/address.js';
import type { RegisterRequest } from './requests.js';

export interface AgentNodeOptions {
  node: string;
  /** Node ID (a UUID in Consul); '' when none is configured. */
  id: string;
  address: string;
  /** Operator-given node meta (`--node-meta`), added to the meta every server node carries. */
  meta: Record<string, string>;
  consulVersion: string;
}

/**
 * The port of the `consul` service: Consul's server RPC port, the one /v1/status/leader and
 * /v1/status/peers report. Fixed, so that re-registering the node at every start writes nothing new.
 */
export const SERVER_PORT = 8300;

/** A server's address as /v1/status/* report it: the host of its HTTP address, with SERVER_PORT. */
export function serverRpcAddress(httpAddress: string): string {
  return formatHostPort({ host: parseHostPort(httpAddress, 'server address').host, port: SERVER_PORT });
}

export const SERF_HEALTH_CHECK_ID = 'serfHealth';

export function agentNodeRegistration(o: AgentNodeOptions): RegisterRequest {
  const lan = o.address;
  return {
    ID: o.id,
    Node: o.node,
    Address: o.address,
    TaggedAddresses: { lan, lan_ipv4: lan, wan: lan, wan_ipv4: lan },
    NodeMeta: { 'consul-network-segment': '', 'consul-version': o.consulVersion, ...o.meta },
    Service: { ID: 'consul', Service: 'consul', Port: SERVER_PORT, Tags: [], Meta: {}, Weights: undefined },
    Checks: [
      {
        CheckID: SERF_HEALTH_CHECK_ID,
        Name: 'Serf Health Status',
        Status: 'passing',
        Output: 'Agent alive and reachable',
        ServiceID: '',
        Type: '',
      },
    ],
  };
}

/** The `consul` service the server registers for itself: in the catalog, not in the agent's own view. */
export const isServerOwnedService = (s: { ID: string; Service: string }): boolean =>
  s.ID === 'consul' && s.Service === 'consul';

/** The `serfHealth` node check: in the catalog, not in the agent's own view. */
export const isServerOwnedCheck = (c: { CheckID: string; ServiceID: string }): boolean =>
  c.CheckID === SERF_HEALTH_CHECK_ID && c.ServiceID === '';
