// A rule on proxy-defaults that depends on peerings: mesh gateway mode `none` leaves peered upstreams
// without a way out (peered services are reachable only through mesh gateways), so it is refused while
// the cluster has a peering. The server registers it with a way to list the cluster's peerings.
import { invalid } from '../shared/errors.js';
import type { WriteTxn } from '../store/store.js';
import type { EntryRule } from './config-store.js';

/** The rule, given the names of the peerings in use as the transaction sees them. */
export function gatewayModeNoneRefusedWhilePeered(peerNames: (tx: WriteTxn) => string[]): EntryRule {
  return (entry, tx) => {
    if (entry.Kind !== 'proxy-defaults' || entry.MeshGateway?.Mode !== 'none') return;
    const peers = peerNames(tx);
    if (peers.length === 0) return;
    throw invalid(
      `MeshGateway.Mode: "none" is not valid while this cluster has peerings (${peers.join(', ')}): ` +
        'traffic to peers must go through mesh gateways; use "remote" or "local"',
    );
  };
}
