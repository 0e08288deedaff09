// Store tables and keys of the catalog. Keys start with the peer ('~' for local data, which no peer
// name can be) so imported data of one peer is one prefix; segments are URI-encoded so any name is safe.
export const NODES = 'catalog/nodes';
export const SERVICES = 'catalog/services';
/** node + service ID → service name, to find a service from its ID. */
export const NODE_SERVICES = 'catalog/node-services';
/** connect-proxy instances by the service they front, for /v1/health/connect. */
export const CONNECT = 'catalog/connect';
export const CHECKS = 'catalog/checks';
/** A local TTL check's TTL in ms, by its CHECKS key (not served, not exported: see ttl-monitor.ts). */
export const CHECK_TTLS = 'catalog/check-ttls';
/**
 * When a local TTL check was last registered or updated (ms since the epoch), by its CHECKS key: written
 * only when several servers share the store, so that any of them may receive the update (shared-ttls.ts).
 */
export const CHECK_TTL_RENEWALS = 'catalog/check-ttl-renewals';

export const CATALOG_TABLES = [NODES, SERVICES, NODE_SERVICES, CONNECT, CHECKS] as const;

const LOCAL = '~';
const enc = encodeURIComponent;

export function peerPrefix(peer: string): string {
  return `${peer === '' ? LOCAL : enc(peer)}/`;
}
export const nodeKey = (peer: string, node: string): string => `${peerPrefix(peer)}${enc(node)}`;
export const serviceNamePrefix = (peer: string, name: string): string => `${peerPrefix(peer)}${enc(name)}/`;
export const serviceKey = (peer: string, name: string, node: string, id: string): string =>
  `${serviceNamePrefix(peer, name)}${enc(node)}/${enc(id)}`;
export const nodeServicesPrefix = (peer: string, node: string): string => `${nodeKey(peer, node)}/`;
export const nodeServiceKey = (peer: string, node: string, id: string): string =>
  `${nodeServicesPrefix(peer, node)}${enc(id)}`;
export const connectKey = (peer: string, destination: string, node: string, id: string): string =>
  `${serviceNamePrefix(peer, destination)}${enc(node)}/${enc(id)}`;
export const nodeChecksPrefix = (peer: string, node: string): string => `${nodeKey(peer, node)}/`;
export const checkKey = (peer: string, node: string, checkID: string): string =>
  `${nodeChecksPrefix(peer, node)}${enc(checkID)}`;
