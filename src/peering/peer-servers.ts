// Where this cluster's own mesh gateways send peering traffic that leaves the cluster: for each peering
// this cluster dials (and each establishment in flight through the gateways), the peer's trust domain,
// which the gateway matches against a connection's SNI `server.<dc>.peering.<trust-domain>`, and the
// addresses of the peer's servers (or of its gateways) from the token and the stream.
import { parseSni } from '../ca/sni.js';
import type { ReadView } from '../store/store.js';
import { PEERINGS, PENDING_DIALS, type PeeringRecord, type PendingDial } from './records.js';

export interface PeerServers {
  PeerName: string;
  TrustDomain: string;
  Addresses: string[];
}

export function peerServers(view: ReadView): PeerServers[] {
  const out = new Map<string, PeerServers>();
  const add = (name: string, serverName: string, addresses: string[]): void => {
    const sni = parseSni(serverName);
    if (sni?.kind !== 'peering-server' || out.has(name)) return;
    out.set(name, { PeerName: name, TrustDomain: sni.trustDomain, Addresses: addresses });
  };
  // An establishment in flight wins over the record it replaces: its token is the newer one.
  for (const e of view.list<PendingDial>(PENDING_DIALS))
    add(e.value.PeerName, e.value.PeerServerName, e.value.Addresses);
  for (const e of view.list<PeeringRecord>(PEERINGS)) {
    const r = e.value;
    // A peering being deleted still dials once more, to tell the peer.
    if (r.Role !== 'dialer' || r.State === 'TERMINATED') continue;
    add(r.Name, r.PeerServerName, r.PeerServerAddresses);
  }
  return [...out.values()].sort((a, b) => a.PeerName.localeCompare(b.PeerName));
}
