import { describe, expect, it } from 'vitest';
import { openStore } from '../store/open-store.js';
import { peerServers } from './peer-servers.js';
import { PEERINGS, type PeeringRecord, peeringKey } from './records.js';
import { clearPendingDial, notePendingDial } from './state-machine.js';

const record = (name: string, over: Partial<PeeringRecord>): PeeringRecord => ({
  ID: `id-${name}`,
  Name: name,
  Role: 'dialer',
  State: 'ACTIVE',
  PeerID: `peer-${name}`,
  PeerServerName: `server.dc-${name}.peering.${name}-td.consul`,
  PeerServerAddresses: [`10.0.0.1:8502`],
  PeerCAPems: [],
  Remote: { Datacenter: `dc-${name}`, Partition: 'default' },
  Meta: {},
  StateChangedAt: new Date(0).toISOString(),
  ...over,
});

describe('peerServers', () => {
  it('lists dialed peers by trust domain; a pending dial wins; acceptors and terminated peerings are left out', async () => {
    const store = openStore({ backend: 'memory' });
    await store.write((tx) => {
      tx.put(PEERINGS, peeringKey('a'), record('a', {}));
      tx.put(PEERINGS, peeringKey('b'), record('b', { State: 'DELETING' }));
      tx.put(PEERINGS, peeringKey('c'), record('c', { State: 'TERMINATED' }));
      tx.put(PEERINGS, peeringKey('d'), record('d', { Role: 'acceptor' }));
      notePendingDial(tx, {
        PeerName: 'a',
        PeerServerName: 'server.dc9.peering.new-td.consul',
        Addresses: ['10.9.9.9:443'],
        Since: new Date(0).toISOString(),
      });
    });
    expect(peerServers(store)).toEqual([
      { PeerName: 'a', TrustDomain: 'new-td.consul', Addresses: ['10.9.9.9:443'] },
      // Still dialed once more, to tell the peer it is deleted.
      { PeerName: 'b', TrustDomain: 'b-td.consul', Addresses: ['10.0.0.1:8502'] },
    ]);
    await store.write((tx) => clearPendingDial(tx, 'a'));
    expect(peerServers(store)[0]).toEqual({
      PeerName: 'a',
      TrustDomain: 'a-td.consul',
      Addresses: ['10.0.0.1:8502'],
    });
    await store.close();
  });
});
