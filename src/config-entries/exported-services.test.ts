import { describe, expect, it } from 'vitest';
import { isMeshpeerError } from '../shared/errors.js';
import {
  consumerPeers,
  type ExportedServicesEntry,
  exportedServicesFor,
  peersExportedTo,
} from './exported-services.js';
import { parseConfigEntry, parseConfigEntryOfKind } from './registry.js';

function parse(input: Record<string, unknown>): ExportedServicesEntry {
  return parseConfigEntryOfKind('exported-services', { Kind: 'exported-services', ...input });
}

function errorOf(input: Record<string, unknown>): string {
  try {
    parse(input);
  } catch (err) {
    if (isMeshpeerError(err) && err.kind === 'invalid') return err.message;
    throw err;
  }
  throw new Error('expected the entry to be rejected');
}

const backendTo = (...consumers: Record<string, unknown>[]) => ({
  Name: 'default',
  Services: [{ Name: 'backend', Consumers: consumers }],
});

describe('exported-services', () => {
  it('accepts the seed example and keeps it as written', () => {
    const entry = parse(backendTo({ Peer: 'cluster-02' }));
    expect(entry).toEqual({
      Kind: 'exported-services',
      Name: 'default',
      Services: [{ Name: 'backend', Consumers: [{ Peer: 'cluster-02' }] }],
    });
  });

  it('accepts partition and sameness-group consumers, namespaces, Partition and Meta', () => {
    const entry = parse({
      Name: 'default',
      Partition: 'default',
      Meta: { 'external-source': 'kubernetes' },
      Services: [
        {
          Name: 'web',
          Namespace: 'default',
          Consumers: [{ Peer: 'cluster-02' }, { Partition: 'finance' }, { SamenessGroup: 'east' }],
        },
      ],
    });
    expect(entry.Services[0]?.Consumers).toHaveLength(3);
    expect(entry.Meta).toEqual({ 'external-source': 'kubernetes' });
  });

  it('accepts "*" as the service name', () => {
    expect(parse({ Services: [{ Name: '*', Consumers: [{ Peer: 'cluster-02' }] }] }).Services[0]?.Name).toBe(
      '*',
    );
  });

  it('defaults Name to "default"; an entry without Services reads back without them, as in Consul', () => {
    expect(parse({})).toEqual({ Kind: 'exported-services', Name: 'default' });
    expect(parse({ Services: null })).toEqual({ Kind: 'exported-services', Name: 'default' });
  });

  it('rejects any name but "default"', () => {
    expect(errorOf({ Name: 'exports' })).toBe(
      'invalid exported-services config entry: Name: must be "default" for exported-services (got "exports")',
    );
  });

  it('rejects a consumer with none of Peer, Partition, SamenessGroup, naming it', () => {
    expect(errorOf(backendTo({ Peer: 'cluster-02' }, {}))).toBe(
      'invalid exported-services config entry: Services[0].Consumers[1]: must set exactly one of Peer, ' +
        'Partition or SamenessGroup (none is set)',
    );
  });

  it('treats empty strings as unset when counting consumer fields', () => {
    expect(errorOf(backendTo({ Peer: '' }))).toContain('Services[0].Consumers[0]: must set exactly one');
  });

  it('rejects a consumer with two of them, naming both', () => {
    expect(errorOf(backendTo({ Peer: 'cluster-02' }, { Peer: 'cluster-03', Partition: 'p' }))).toContain(
      'Services[0].Consumers[1]: must set exactly one of Peer, Partition or SamenessGroup (found Peer and Partition)',
    );
    expect(errorOf(backendTo({ Partition: 'p', SamenessGroup: 'g' }))).toContain(
      '(found Partition and SamenessGroup)',
    );
  });

  it('rejects a service without consumers', () => {
    expect(errorOf(backendTo())).toContain('Services[0].Consumers: must list at least one consumer');
  });

  it('rejects a consumer listed twice', () => {
    expect(errorOf(backendTo({ Peer: 'cluster-02' }, { Peer: 'cluster-02' }))).toContain(
      'Services[0].Consumers[1]: repeats Consumers[0] (Peer cluster-02)',
    );
  });

  it('rejects a service listed twice', () => {
    const input = {
      Services: [
        { Name: 'backend', Consumers: [{ Peer: 'cluster-02' }] },
        { Name: 'web', Consumers: [{ Peer: 'cluster-02' }] },
        { Name: 'backend', Consumers: [{ Peer: 'cluster-03' }] },
      ],
    };
    expect(errorOf(input)).toBe(
      'invalid exported-services config entry: Services[2].Name: service "backend" is already listed at ' +
        'Services[0]; list each service once, with all its consumers',
    );
  });

  it('allows one name in two namespaces', () => {
    const input = {
      Services: [
        { Name: 'backend', Namespace: 'a', Consumers: [{ Peer: 'cluster-02' }] },
        { Name: 'backend', Namespace: 'b', Consumers: [{ Peer: 'cluster-02' }] },
      ],
    };
    expect(parse(input).Services).toHaveLength(2);
  });

  it.each(['Cluster-02', 'cluster_02', '-cluster', 'cluster-', '*', 'a'.repeat(64), 'cluster.02'])(
    'rejects the peer name %j',
    (peer) => {
      expect(errorOf(backendTo({ Peer: peer }))).toContain(
        `Services[0].Consumers[0].Peer: ${JSON.stringify(peer)} is not a valid peer name`,
      );
    },
  );

  it.each(['cluster-02', 'a', '0', 'a'.repeat(63)])('accepts the peer name %j', (peer) => {
    expect(parse(backendTo({ Peer: peer })).Services[0]?.Consumers[0]?.Peer).toBe(peer);
  });

  it('rejects a partial wildcard and an empty service name', () => {
    expect(errorOf({ Services: [{ Name: 'back*', Consumers: [{ Peer: 'p' }] }] })).toContain(
      'Services[0].Name: "back*": a wildcard must be the whole name ("*"), not part of it',
    );
    expect(errorOf({ Services: [{ Name: '', Consumers: [{ Peer: 'p' }] }] })).toContain(
      'Services[0].Name: must not be empty',
    );
  });

  it('rejects unknown fields at every level, naming them', () => {
    expect(errorOf({ Services: [], Exports: [] })).toBe(
      'invalid exported-services config entry: Exports: unknown field',
    );
    expect(errorOf({ Services: [{ Name: 'a', Consumers: [{ Peer: 'p', Peers: ['q'] }] }] })).toContain(
      'Services[0].Consumers[0].Peers: unknown field',
    );
  });

  it('names the field and the expected type for wrong types', () => {
    expect(errorOf({ Services: { Name: 'a' } })).toContain('Services: expected a list, got an object');
    expect(errorOf({ Services: [{ Name: 7, Consumers: [] }] })).toContain(
      'Services[0].Name: expected a string, got number 7',
    );
    expect(errorOf({ Services: [{ Consumers: [{ Peer: 'p' }] }] })).toContain(
      'Services[0].Name: is required',
    );
  });
});

describe('exportedServicesFor', () => {
  const entry = parseConfigEntry({
    Kind: 'exported-services',
    Name: 'default',
    Services: [
      { Name: 'backend', Consumers: [{ Peer: 'cluster-02' }, { Peer: 'cluster-03' }] },
      { Name: 'billing', Consumers: [{ Peer: 'cluster-03' }] },
      { Name: 'ledger', Consumers: [{ Partition: 'cluster-02' }] },
    ],
  }) as ExportedServicesEntry;

  it('returns the services listed for that peer only', () => {
    expect(exportedServicesFor(entry, 'cluster-02', ['backend', 'billing', 'ledger'])).toEqual(
      new Set(['backend']),
    );
    expect(exportedServicesFor(entry, 'cluster-03', [])).toEqual(new Set(['backend', 'billing']));
    expect(exportedServicesFor(entry, 'cluster-09', ['backend'])).toEqual(new Set());
  });

  it('does not match a partition consumer that has the peer name', () => {
    expect(exportedServicesFor(entry, 'cluster-02', ['ledger']).has('ledger')).toBe(false);
  });

  it('expands "*" to every known service except consul', () => {
    const wildcard = parse({ Services: [{ Name: '*', Consumers: [{ Peer: 'cluster-02' }] }] });
    expect(exportedServicesFor(wildcard, 'cluster-02', ['web', 'api', 'consul'])).toEqual(
      new Set(['web', 'api']),
    );
    expect(exportedServicesFor(wildcard, 'cluster-03', ['web'])).toEqual(new Set());
  });

  it('returns nothing without an entry or for an empty peer name', () => {
    expect(exportedServicesFor(undefined, 'cluster-02', ['web'])).toEqual(new Set());
    expect(exportedServicesFor(entry, '', ['web'])).toEqual(new Set());
  });

  it('lists consumer peers once each', () => {
    expect(consumerPeers(entry)).toEqual(['cluster-02', 'cluster-03']);
    expect(consumerPeers(undefined)).toEqual([]);
  });
});

describe('peersExportedTo', () => {
  const entry = parse({
    Services: [
      { Name: 'backend', Consumers: [{ Peer: 'cluster-03' }, { Peer: 'cluster-02' }, { Partition: 'p' }] },
      { Name: '*', Consumers: [{ Peer: 'everyone' }, { SamenessGroup: 'east' }] },
      { Name: 'billing', Consumers: [{ Peer: 'cluster-02' }] },
    ],
  });

  it('gives the peers a service is exported to by name or by "*", sorted, once each', () => {
    expect(peersExportedTo(entry, 'backend')).toEqual(['cluster-02', 'cluster-03', 'everyone']);
    expect(peersExportedTo(entry, 'billing')).toEqual(['cluster-02', 'everyone']);
    expect(peersExportedTo(entry, 'web')).toEqual(['everyone']);
  });

  it('never exports consul by "*"; nothing without an entry', () => {
    expect(peersExportedTo(entry, 'consul')).toEqual([]);
    expect(peersExportedTo(undefined, 'backend')).toEqual([]);
    expect(peersExportedTo(parse({}), 'backend')).toEqual([]);
  });
});
