// The peering state machine over the memory store: each named transition writes what it says and
// nothing when it may not happen, and the legal-transition table is the only way between states.
import { afterEach, describe, expect, it } from 'vitest';
import { Catalog } from '../catalog/catalog.js';
import { openStore } from '../store/open-store.js';
import type { Store, WriteTxn } from '../store/store.js';
import {
  PEERING_SECRETS,
  PEERINGS,
  type PeeringRecord,
  type PeeringSecrets,
  peeringKey,
  peerNamesInUse,
  recordByName,
  STREAM_EVENTS,
  type StoredState,
  secretsOf,
  TRUST_BUNDLES,
} from './records.js';
import {
  canTransition,
  EstablishmentRefused,
  exchangeEstablishment,
  issueEstablishment,
  LEGAL_TRANSITIONS,
  markActive,
  markDeleting,
  markTerminated,
  mergeServerAddresses,
  noteStreamEvent,
  recordEstablished,
  removePeering,
  storeTrustBundle,
  transition,
} from './state-machine.js';

const STATES: StoredState[] = ['PENDING', 'ESTABLISHING', 'ACTIVE', 'DELETING', 'TERMINATED'];
const HOUR = 3600_000;

const stores: Store[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

function fixture(): { store: Store; catalog: Catalog; write: <R>(fn: (tx: WriteTxn) => R) => Promise<R> } {
  const store = openStore({ backend: 'memory' });
  stores.push(store);
  const catalog = new Catalog(store, 'dc1');
  return { store, catalog, write: async (fn) => (await store.write(fn)).result };
}

const later = (ms = HOUR): string => new Date(Date.now() + ms).toISOString();

/** A record of `name` in `state`, written directly (the fixture for transitions out of that state). */
function put(tx: WriteTxn, name: string, state: StoredState, role: PeeringRecord['Role'] = 'acceptor'): void {
  tx.put<PeeringRecord>(PEERINGS, peeringKey(name), {
    ID: `id-${name}`,
    Name: name,
    Role: role,
    State: state,
    PeerID: '',
    PeerServerName: '',
    PeerServerAddresses: ['10.0.0.1:8502'],
    PeerCAPems: [],
    Remote: { Datacenter: '', Partition: 'default' },
    Meta: {},
    StateChangedAt: new Date(0).toISOString(),
  });
}

async function importOne(catalog: Catalog, store: Store, peer: string): Promise<void> {
  await store.write((tx) =>
    catalog.replaceImportedService(tx, peer, 'web', [
      {
        node: { ID: '', Node: 'n1', Address: '10.0.0.9', Datacenter: '', TaggedAddresses: {}, Meta: {} },
        service: {
          ID: 'web-1',
          Service: 'web',
          Kind: '',
          Tags: [],
          Address: '',
          TaggedAddresses: {},
          Meta: {},
          Port: 80,
          Weights: { Passing: 1, Warning: 1 },
          EnableTagOverride: false,
        },
        checks: [],
      },
    ]),
  );
}

describe('transition table', () => {
  it.each(STATES.flatMap((from) => STATES.map((to) => [from, to] as const)))(
    '%s → %s happens exactly when the table lists it',
    async (from, to) => {
      const { store, write } = fixture();
      await write((tx) => put(tx, 'p', from));
      const moved = await write((tx) => transition(tx, 'p', to, 'why'));
      expect(moved).toBe(LEGAL_TRANSITIONS[from].includes(to));
      const after = recordByName(store, 'p');
      expect(after?.State).toBe(moved ? to : from);
      if (moved) expect(after?.Reason).toBe('why');
      else expect(after?.StateChangedAt).toBe(new Date(0).toISOString());
    },
  );

  it('nothing leaves DELETING but deleting; FAILING is never a stored state', () => {
    expect(LEGAL_TRANSITIONS.DELETING).toEqual(['DELETING']);
    for (const from of STATES) expect(canTransition(from, 'DELETING')).toBe(true);
    expect(Object.keys(LEGAL_TRANSITIONS)).not.toContain('FAILING');
  });

  it('a transition of a peering that does not exist writes nothing', async () => {
    const { store, write } = fixture();
    expect(await write((tx) => transition(tx, 'nobody', 'ACTIVE'))).toBe(false);
    expect(store.list(PEERINGS)).toEqual([]);
  });
});

describe('acceptor establishment', () => {
  it('issuing a token creates a PENDING acceptor with the secret as the only valid one', async () => {
    const { store, catalog, write } = fixture();
    const rec = await write((tx) =>
      issueEstablishment(tx, { name: 'p', meta: { a: '1' }, secret: 's1', expiresAt: later() }, catalog),
    );
    expect(rec).toMatchObject({ Name: 'p', Role: 'acceptor', State: 'PENDING', Meta: { a: '1' } });
    expect(secretsOf(store, rec.ID)).toMatchObject({
      Establishment: { Secret: 's1' },
      UsedEstablishment: [],
      ReplacedEstablishment: [],
    });
  });

  it('a second token keeps the peering and its state, and remembers the first secret as replaced', async () => {
    const { store, catalog, write } = fixture();
    const first = await write((tx) =>
      issueEstablishment(tx, { name: 'p', meta: undefined, secret: 's1', expiresAt: later() }, catalog),
    );
    await write((tx) => markActive(tx, 'p'));
    const second = await write((tx) =>
      issueEstablishment(tx, { name: 'p', meta: undefined, secret: 's2', expiresAt: later() }, catalog),
    );
    expect(second.ID).toBe(first.ID);
    expect(recordByName(store, 'p')?.State).toBe('ACTIVE');
    expect(secretsOf(store, first.ID)).toMatchObject({
      Establishment: { Secret: 's2' },
      ReplacedEstablishment: ['s1'],
    });
  });

  it('a token for a TERMINATED peering starts a new one, dropping what the old one imported', async () => {
    const { store, catalog, write } = fixture();
    await write((tx) => put(tx, 'p', 'TERMINATED'));
    await importOne(catalog, store, 'p');
    const rec = await write((tx) =>
      issueEstablishment(tx, { name: 'p', meta: undefined, secret: 's', expiresAt: later() }, catalog),
    );
    expect(rec.ID).not.toBe('id-p');
    expect(rec.State).toBe('PENDING');
    expect(catalog.importedServiceNames('p')).toEqual([]);
  });

  it.each([
    ['an established dialer', 'ACTIVE', 'dialer', /was established from this cluster/],
    ['a peering being deleted', 'DELETING', 'acceptor', /is being deleted/],
  ] as const)('refuses a token for the name of %s', async (_what, state, role, message) => {
    const { store, catalog, write } = fixture();
    await write((tx) => put(tx, 'p', state, role));
    await expect(
      write((tx) =>
        issueEstablishment(tx, { name: 'p', meta: undefined, secret: 's', expiresAt: later() }, catalog),
      ),
    ).rejects.toThrow(message);
    expect(store.list(PEERING_SECRETS)).toEqual([]);
  });

  it('the exchange uses the secret up, issues the stream secret and records who the dialer is', async () => {
    const { store, catalog, write } = fixture();
    const rec = await write((tx) =>
      issueEstablishment(tx, { name: 'p', meta: undefined, secret: 's1', expiresAt: later() }, catalog),
    );
    const name = await write((tx) =>
      exchangeEstablishment(tx, {
        peerId: rec.ID,
        establishmentSecret: 's1',
        streamSecret: 'stream-1',
        dialerPeeringId: 'dialer-id',
        remoteDatacenter: 'dc2',
      }),
    );
    expect(name).toBe('p');
    expect(recordByName(store, 'p')).toMatchObject({
      State: 'ESTABLISHING',
      PeerID: 'dialer-id',
      Remote: { Datacenter: 'dc2' },
    });
    const secrets = secretsOf(store, rec.ID) as PeeringSecrets;
    expect(secrets.Establishment).toBeUndefined();
    expect(secrets.UsedEstablishment).toEqual(['s1']);
    expect(secrets.Stream).toBe('stream-1');
  });

  it('a refused exchange writes nothing and says why', async () => {
    const { store, catalog, write } = fixture();
    const rec = await write((tx) =>
      issueEstablishment(tx, { name: 'p', meta: undefined, secret: 's1', expiresAt: later() }, catalog),
    );
    const before = store.lastIndex();
    const attempt = write((tx) =>
      exchangeEstablishment(tx, {
        peerId: rec.ID,
        establishmentSecret: 'wrong',
        streamSecret: 'x',
        dialerPeeringId: 'd',
        remoteDatacenter: 'dc2',
      }),
    );
    await expect(attempt).rejects.toBeInstanceOf(EstablishmentRefused);
    await expect(attempt).rejects.toMatchObject({ refusal: { kind: 'secret-mismatch' } });
    expect(store.lastIndex()).toBe(before);
    expect(recordByName(store, 'p')?.State).toBe('PENDING');
  });

  it('a second dialer exchanging a new token makes the old trust bundle go', async () => {
    const { store, catalog, write } = fixture();
    const rec = await write((tx) =>
      issueEstablishment(tx, { name: 'p', meta: undefined, secret: 's1', expiresAt: later() }, catalog),
    );
    const exchange = (secret: string, dialer: string) =>
      write((tx) =>
        exchangeEstablishment(tx, {
          peerId: rec.ID,
          establishmentSecret: secret,
          streamSecret: `stream-${secret}`,
          dialerPeeringId: dialer,
          remoteDatacenter: '',
        }),
      );
    await exchange('s1', 'dialer-a');
    await write((tx) => storeTrustBundle(tx, { PeerName: 'p', TrustDomain: 'a.consul', RootPEMs: ['r'] }));
    await write((tx) =>
      issueEstablishment(tx, { name: 'p', meta: undefined, secret: 's2', expiresAt: later() }, catalog),
    );
    await exchange('s2', 'dialer-a');
    expect(store.get(TRUST_BUNDLES, peeringKey('p'))).toBeDefined();
    await write((tx) =>
      issueEstablishment(tx, { name: 'p', meta: undefined, secret: 's3', expiresAt: later() }, catalog),
    );
    await exchange('s3', 'dialer-b');
    expect(store.get(TRUST_BUNDLES, peeringKey('p'))).toBeUndefined();
    expect(recordByName(store, 'p')?.PeerID).toBe('dialer-b');
  });
});

describe('dialer establishment and stream facts', () => {
  const established = (peerId: string, manual = false) => ({
    name: 'p',
    meta: undefined,
    id: 'local-id',
    peerId,
    peerServerName: 'server.dc1.peering.td',
    peerServerAddresses: ['10.0.0.1:8502'],
    peerCAPems: ['ca'],
    remote: { Datacenter: 'dc1', Partition: 'default' },
    manualServerAddresses: manual,
    streamSecret: 'stream',
  });

  it('records an ESTABLISHING dialer; another token for the name replaces it with its imports', async () => {
    const { store, catalog, write } = fixture();
    await write((tx) => recordEstablished(tx, established('acceptor-1'), catalog));
    expect(recordByName(store, 'p')).toMatchObject({
      Role: 'dialer',
      State: 'ESTABLISHING',
      StreamSecret: 'stream',
    });
    await importOne(catalog, store, 'p');
    await write((tx) => recordEstablished(tx, established('acceptor-1'), catalog));
    expect(catalog.importedServiceNames('p')).toEqual(['web']);
    await write((tx) => recordEstablished(tx, established('acceptor-2'), catalog));
    expect(catalog.importedServiceNames('p')).toEqual([]);
    expect(recordByName(store, 'p')?.PeerID).toBe('acceptor-2');
  });

  it('merges replicated server addresses, unless the token named manual ones', async () => {
    const { store, catalog, write } = fixture();
    await write((tx) => recordEstablished(tx, established('a'), catalog));
    await write((tx) => mergeServerAddresses(tx, 'p', ['10.0.0.1:8502', '10.0.0.2:8502']));
    expect(recordByName(store, 'p')?.PeerServerAddresses).toEqual(['10.0.0.1:8502', '10.0.0.2:8502']);
    await write((tx) => recordEstablished(tx, established('b', true), catalog));
    await write((tx) => mergeServerAddresses(tx, 'p', ['10.0.0.3:8502']));
    expect(recordByName(store, 'p')?.PeerServerAddresses).toEqual(['10.0.0.1:8502']);
  });

  it('markActive moves an establishing peering to ACTIVE and leaves a TERMINATED one alone', async () => {
    const { store, write } = fixture();
    await write((tx) => {
      put(tx, 'a', 'ESTABLISHING');
      put(tx, 't', 'TERMINATED');
    });
    await write((tx) => {
      markActive(tx, 'a');
      markActive(tx, 't');
    });
    expect(recordByName(store, 'a')?.State).toBe('ACTIVE');
    expect(recordByName(store, 't')?.State).toBe('TERMINATED');
  });

  it('markTerminated keeps the record with the reason and drops imports and trust bundle', async () => {
    const { store, catalog, write } = fixture();
    await write((tx) => put(tx, 'p', 'ACTIVE'));
    await importOne(catalog, store, 'p');
    await write((tx) => storeTrustBundle(tx, { PeerName: 'p', TrustDomain: 'x.consul', RootPEMs: [] }));
    expect(await write((tx) => markTerminated(tx, 'p', 'the peer deleted it', catalog))).toBe(true);
    expect(recordByName(store, 'p')).toMatchObject({ State: 'TERMINATED', Reason: 'the peer deleted it' });
    expect(catalog.importedServiceNames('p')).toEqual([]);
    expect(store.get(TRUST_BUNDLES, peeringKey('p'))).toBeUndefined();
  });

  it('markTerminated leaves a peering being deleted here to finish', async () => {
    const { store, catalog, write } = fixture();
    await write((tx) => put(tx, 'p', 'ACTIVE'));
    await write((tx) => markDeleting(tx, 'p'));
    expect(await write((tx) => markTerminated(tx, 'p', 'late', catalog))).toBe(false);
    expect(recordByName(store, 'p')?.State).toBe('DELETING');
  });

  it('removePeering leaves nothing of the peering behind', async () => {
    const { store, catalog, write } = fixture();
    const rec = await write((tx) =>
      issueEstablishment(tx, { name: 'p', meta: undefined, secret: 's', expiresAt: later() }, catalog),
    );
    await importOne(catalog, store, 'p');
    await write((tx) => {
      storeTrustBundle(tx, { PeerName: 'p', TrustDomain: 'x.consul', RootPEMs: [] });
      noteStreamEvent(tx, 'p', true);
    });
    await write((tx) => removePeering(tx, rec, catalog));
    for (const table of [PEERINGS, PEERING_SECRETS, TRUST_BUNDLES, STREAM_EVENTS])
      expect(store.list(table)).toEqual([]);
    expect(catalog.importedServiceNames('p')).toEqual([]);
  });

  it('peerNamesInUse leaves out TERMINATED peerings', async () => {
    const { store, write } = fixture();
    await write((tx) => {
      put(tx, 'a', 'ACTIVE');
      put(tx, 'b', 'TERMINATED');
      put(tx, 'c', 'PENDING');
    });
    expect(peerNamesInUse(store).sort()).toEqual(['a', 'c']);
  });
});
