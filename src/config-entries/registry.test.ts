import { describe, expect, it } from 'vitest';
import { isMeshpeerError } from '../shared/errors.js';
import {
  CONFIG_ENTRY_KINDS,
  type ConfigEntry,
  configEntryKey,
  configEntryWarnings,
  isConfigEntryKind,
  normalizeConfigEntryShape,
  parseConfigEntry,
  parseConfigEntryKind,
  parseConfigEntryOfKind,
} from './registry.js';

function errorOf(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    if (isMeshpeerError(err) && err.kind === 'invalid') return err.message;
    throw err;
  }
  throw new Error('expected an invalid error');
}

const KNOWN =
  'known kinds: exported-services, mesh, proxy-defaults, service-defaults, service-intentions, service-resolver';

/** One full entry per kind, in Consul's JSON shape. */
const EXAMPLES: Record<string, Record<string, unknown>> = {
  'exported-services': {
    Kind: 'exported-services',
    Name: 'default',
    Meta: { 'external-source': 'kubernetes' },
    Services: [
      { Name: 'backend', Consumers: [{ Peer: 'cluster-02' }] },
      { Name: '*', Namespace: 'default', Consumers: [{ Partition: 'finance' }, { SamenessGroup: 'east' }] },
    ],
  },
  mesh: {
    Kind: 'mesh',
    Peering: { PeerThroughMeshGateways: true },
    TLS: { Incoming: { TLSMinVersion: 'TLSv1_2', CipherSuites: ['ECDHE-RSA-AES128-GCM-SHA256'] } },
    HTTP: { SanitizeXForwardedClientCert: true },
  },
  'proxy-defaults': {
    Kind: 'proxy-defaults',
    Name: 'global',
    MeshGateway: { Mode: 'local' },
    Config: { protocol: 'http', envoy_stats_tags: ['a=b'] },
    Mode: 'transparent',
    TransparentProxy: { OutboundListenerPort: 15001 },
    Expose: { Checks: true },
  },
  'service-defaults': {
    Kind: 'service-defaults',
    Name: 'backend',
    Protocol: 'http',
    MutualTLSMode: 'strict',
    MaxInboundConnections: 5,
    BalanceInboundConnections: 'exact_balance',
    LocalConnectTimeoutMs: 5000,
    Destination: { Addresses: ['my.example.com'], Port: 80 },
  },
  'service-intentions': {
    Kind: 'service-intentions',
    Name: 'backend',
    Sources: [
      { Name: '*', Action: 'deny' },
      { Name: 'frontend', Peer: 'cluster-02', Action: 'allow', Description: 'from the peer' },
      { Name: 'admin', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/admin', Methods: ['GET'] } }] },
    ],
  },
  'service-resolver': {
    Kind: 'service-resolver',
    Name: 'backend',
    ConnectTimeout: '5s',
    Failover: { '*': { Targets: [{ Peer: 'cluster-01' }, { Peer: 'cluster-03', Service: 'backend-v2' }] } },
  },
};

describe('registry', () => {
  it('knows the six kinds, spelled as Consul spells them', () => {
    expect(CONFIG_ENTRY_KINDS).toEqual([
      'exported-services',
      'mesh',
      'proxy-defaults',
      'service-defaults',
      'service-intentions',
      'service-resolver',
    ]);
    expect(isConfigEntryKind('mesh')).toBe(true);
    expect(isConfigEntryKind('Mesh')).toBe(false);
    expect(isConfigEntryKind(3)).toBe(false);
  });

  it('has an example for every kind', () => {
    expect(Object.keys(EXAMPLES).sort()).toEqual([...CONFIG_ENTRY_KINDS].sort());
  });

  it('rejects a missing Kind, listing the known kinds', () => {
    expect(errorOf(() => parseConfigEntry({ Name: 'x' }))).toBe(`Kind: is required; ${KNOWN}`);
    expect(errorOf(() => parseConfigEntryKind(''))).toBe(`Kind: is required; ${KNOWN}`);
  });

  it('rejects an unknown Kind, listing the known kinds', () => {
    expect(errorOf(() => parseConfigEntry({ Kind: 'service-router', Name: 'x' }))).toBe(
      `Kind: unknown config entry kind "service-router"; ${KNOWN}`,
    );
    expect(errorOf(() => parseConfigEntry({ Kind: 7 }))).toBe(`Kind: unknown config entry kind 7; ${KNOWN}`);
  });

  it('rejects input that is not an object', () => {
    expect(errorOf(() => parseConfigEntry([]))).toBe('invalid config entry: expected an object, got a list');
    expect(errorOf(() => parseConfigEntry(null))).toBe('invalid config entry: expected an object, got null');
    expect(errorOf(() => parseConfigEntry('mesh'))).toBe(
      'invalid config entry: expected an object, got string',
    );
  });

  it('rejects a Kind that disagrees with the one asked for', () => {
    expect(errorOf(() => parseConfigEntryOfKind('mesh', { Kind: 'proxy-defaults' }))).toBe(
      'invalid mesh config entry: Kind: must be "mesh" (got "proxy-defaults")',
    );
    expect(parseConfigEntryOfKind('mesh', {}).Kind).toBe('mesh');
  });

  it.each(Object.keys(EXAMPLES))('round-trips a %s entry through JSON unchanged', (kind) => {
    const first = parseConfigEntry(EXAMPLES[kind]);
    const second = parseConfigEntry(JSON.parse(JSON.stringify(first)));
    expect(second).toEqual(first);
    expect(first.Kind).toBe(kind);
  });

  it('accepts snake_case keys, except inside Config and Meta', () => {
    const entry = parseConfigEntry({
      kind: 'proxy-defaults',
      name: 'global',
      mesh_gateway: { mode: 'remote' },
      transparent_proxy: { outbound_listener_port: 15001, dialed_directly: true },
      mutual_tls_mode: 'strict',
      config: { local_connect_timeout_ms: 1000, Envoy_Thing: { inner_key: 1 } },
      meta: { some_key: 'v' },
    });
    expect(entry).toEqual({
      Kind: 'proxy-defaults',
      Name: 'global',
      MeshGateway: { Mode: 'remote' },
      TransparentProxy: { OutboundListenerPort: 15001, DialedDirectly: true },
      MutualTLSMode: 'strict',
      Config: { local_connect_timeout_ms: 1000, Envoy_Thing: { inner_key: 1 } },
      Meta: { some_key: 'v' },
    });
  });

  it('accepts snake_case for acronym fields and nested lists', () => {
    const mesh = parseConfigEntry({
      Kind: 'mesh',
      peering: { peer_through_mesh_gateways: true },
      allow_enabling_permissive_mutual_tls: true,
      tls: { incoming: { tls_min_version: 'TLSv1_2', cipher_suites: ['X'] } },
      http: { sanitize_x_forwarded_client_cert: true },
      transparent_proxy: { mesh_destinations_only: true },
    });
    expect(mesh).toEqual({
      Kind: 'mesh',
      Name: 'mesh',
      Peering: { PeerThroughMeshGateways: true },
      AllowEnablingPermissiveMutualTLS: true,
      TLS: { Incoming: { TLSMinVersion: 'TLSv1_2', CipherSuites: ['X'] } },
      HTTP: { SanitizeXForwardedClientCert: true },
      TransparentProxy: { MeshDestinationsOnly: true },
    });
    const exported = parseConfigEntry({
      kind: 'exported-services',
      services: [{ name: 'web', consumers: [{ peer: 'cluster-02' }, { sameness_group: 'g' }] }],
    });
    expect(exported).toEqual({
      Kind: 'exported-services',
      Name: 'default',
      Services: [{ Name: 'web', Consumers: [{ Peer: 'cluster-02' }, { SamenessGroup: 'g' }] }],
    });
  });

  it('accepts camelCase keys as the Kubernetes CRDs write them', () => {
    const resolver = parseConfigEntry({
      kind: 'service-resolver',
      name: 'web',
      connectTimeout: '5s',
      subsets: { 'v1-beta': { filter: 'Service.Meta.version == v1', onlyPassing: true } },
      failover: { 'v1-beta': { targets: [{ peer: 'cluster-02', serviceSubset: 'v1' }] } },
    });
    expect(resolver).toEqual({
      Kind: 'service-resolver',
      Name: 'web',
      ConnectTimeout: '5s',
      // Map keys are user data: the subset name is not renamed.
      Subsets: { 'v1-beta': { Filter: 'Service.Meta.version == v1', OnlyPassing: true } },
      Failover: { 'v1-beta': { Targets: [{ Peer: 'cluster-02', ServiceSubset: 'v1' }] } },
    });
  });

  it('leaves map keys alone and still validates them', () => {
    expect(
      errorOf(() => parseConfigEntry({ Kind: 'service-resolver', Name: 'web', Subsets: { V1: {} } })),
    ).toContain('Subsets.V1: "V1" is not a valid subset name');
  });

  it('reports an alias given next to its canonical spelling as unknown', () => {
    expect(
      errorOf(() =>
        parseConfigEntry({
          Kind: 'mesh',
          Peering: { PeerThroughMeshGateways: true, peer_through_mesh_gateways: false },
        }),
      ),
    ).toBe('invalid mesh config entry: Peering.peer_through_mesh_gateways: unknown field');
  });

  it('treats null as not set, as Consul does for JSON', () => {
    expect(parseConfigEntry({ Kind: 'mesh', Meta: null, Peering: null, TLS: null })).toEqual(
      parseConfigEntry({ Kind: 'mesh' }),
    );
    expect(errorOf(() => parseConfigEntry({ Kind: 'service-resolver', Name: null }))).toContain(
      'Name: is required',
    );
  });

  it('accepts and drops the read-only fields Consul returns', () => {
    const read = { ...EXAMPLES.mesh, CreateIndex: 10, ModifyIndex: 12, Hash: 123 };
    expect(parseConfigEntry(read)).toEqual(parseConfigEntry(EXAMPLES.mesh));
  });

  it('checks Meta limits', () => {
    const tooMany = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']));
    expect(errorOf(() => parseConfigEntry({ Kind: 'mesh', Meta: tooMany }))).toContain(
      'Meta: has 65 keys; at most 64 are allowed',
    );
    expect(errorOf(() => parseConfigEntry({ Kind: 'mesh', Meta: { ['k'.repeat(129)]: 'v' } }))).toContain(
      'key is longer than 128 characters',
    );
    expect(errorOf(() => parseConfigEntry({ Kind: 'mesh', Meta: { k: 'v'.repeat(513) } }))).toContain(
      'Meta.k: value is longer than 512 characters',
    );
    expect(errorOf(() => parseConfigEntry({ Kind: 'mesh', Meta: { 'a.b/c': 1 } }))).toContain(
      'Meta["a.b/c"]: expected a string, got number 1',
    );
  });

  it('keys entries by kind and name', () => {
    const keys = Object.values(EXAMPLES).map((e) => configEntryKey(parseConfigEntry(e)));
    expect(keys).toEqual([
      { kind: 'exported-services', name: 'default' },
      { kind: 'mesh', name: 'mesh' },
      { kind: 'proxy-defaults', name: 'global' },
      { kind: 'service-defaults', name: 'backend' },
      { kind: 'service-intentions', name: 'backend' },
      { kind: 'service-resolver', name: 'backend' },
    ]);
  });

  it('narrows the union on Kind', () => {
    const entry: ConfigEntry = parseConfigEntry(EXAMPLES['proxy-defaults']);
    if (entry.Kind !== 'proxy-defaults') throw new Error('wrong kind');
    expect(entry.MeshGateway.Mode).toBe('local');
  });

  it('warns about valid but risky settings', () => {
    const none = parseConfigEntry({ Kind: 'proxy-defaults', MeshGateway: { Mode: 'none' } });
    expect(configEntryWarnings(none)).toHaveLength(1);
    expect(configEntryWarnings(parseConfigEntry(EXAMPLES.mesh))).toEqual([]);
  });

  it('shapes without validating', () => {
    expect(
      normalizeConfigEntryShape({ kind: 'mesh', peering: [{ peer_through_mesh_gateways: true }], Bogus: 1 }),
    ).toEqual({
      Kind: 'mesh',
      Peering: { PeerThroughMeshGateways: true },
      Bogus: 1,
    });
    expect(normalizeConfigEntryShape({ kind: 'nope', a_b: 1 })).toEqual({ kind: 'nope', a_b: 1 });
    expect(normalizeConfigEntryShape('text')).toBe('text');
  });
});

describe('service-defaults', () => {
  it('accepts what Consul clients send (zero values, empty nested structs) and lower-cases Protocol', () => {
    const entry = parseConfigEntry({
      Kind: 'service-defaults',
      Name: 'web',
      Protocol: 'HTTP',
      Mode: '',
      MutualTLSMode: '',
      MeshGateway: {},
      Expose: {},
      TransparentProxy: null,
      UpstreamConfig: null,
    });
    expect(entry).toMatchObject({ Kind: 'service-defaults', Name: 'web', Protocol: 'http' });
  });

  it.each([
    [{ MutualTLSMode: 'loose' }, 'MutualTLSMode'],
    [{ MaxInboundConnections: -1 }, 'MaxInboundConnections'],
    [{ Destination: { Port: 70000 } }, 'Destination.Port'],
    [{ Bogus: 1 }, 'Bogus'],
  ])('refuses %j, naming the field', (fields, field) => {
    expect(errorOf(() => parseConfigEntry({ Kind: 'service-defaults', Name: 'web', ...fields }))).toContain(
      field,
    );
  });
});
