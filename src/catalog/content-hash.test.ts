// ContentHash of agent services against the numbers Consul computes: each row's expected value was printed
// by Go (mitchellh/hashstructure v1.1.0 over consul/api v1.34.5's AgentService decoded from the same JSON),
// and the first is the value HashiCorp's consul/api test suite expects from a Consul agent.
import { describe, expect, it } from 'vitest';
import { agentServiceContentHash, agentServiceType } from './content-hash.js';
import { goHex, hashGoValue } from './go-struct-hash.js';
import type { ServiceInstance } from './types.js';

const suiteService = {
  ID: 'foo',
  Service: 'foo',
  Tags: ['bar', 'baz'],
  Port: 8000,
  Weights: { Passing: 1, Warning: 1 },
  Meta: {},
};

const proxy = {
  DestinationServiceName: 'web',
  DestinationServiceID: 'web-1',
  LocalServiceAddress: '127.0.0.1',
  LocalServicePort: 8080,
  Mode: 'transparent',
  TransparentProxy: { OutboundListenerPort: 15001, DialedDirectly: true },
  Config: {
    protocol: 'http',
    connect_timeout_ms: 5000,
    ratio: 0.25,
    nested: { list: [1, 'x', true, null], empty: {} },
  },
  Upstreams: [
    {
      DestinationType: 'service',
      DestinationName: 'db',
      DestinationPeer: 'dc2',
      LocalBindPort: 9191,
      Config: { protocol: 'tcp' },
      MeshGateway: { Mode: 'local' },
    },
    { DestinationName: 'cache', Datacenter: 'dc3', LocalBindAddress: '127.0.0.2', LocalBindPort: 9292 },
  ],
  MeshGateway: { Mode: 'remote' },
  Expose: {
    Checks: true,
    Paths: [{ ListenerPort: 21500, Path: '/health', LocalPathPort: 8080, Protocol: 'http' }],
  },
  AccessLogs: { Enabled: true, Type: 'stdout' },
};

describe('the AgentService Go type', () => {
  const table: Array<[string, Record<string, unknown>, string]> = [
    ['the consul/api suite service', suiteService, '1d5d568c14309fa8'],
    ['tags in another order', { ...suiteService, Tags: ['baz', 'bar'] }, '1591adc9adbc651b'],
    [
      'Namespace, Partition, Datacenter and Locality are not hashed',
      {
        ...suiteService,
        Namespace: 'default',
        Partition: 'default',
        Datacenter: 'dc1',
        Locality: { Region: 'r', Zone: 'z' },
      },
      '1d5d568c14309fa8',
    ],
    [
      'address, meta, tagged addresses, weights, tag override',
      {
        ID: 'web-1',
        Service: 'web',
        Tags: [],
        Meta: { version: 'v2', team: 'ünï' },
        Port: 8080,
        Address: '10.0.0.7',
        TaggedAddresses: {
          lan_ipv4: { Address: '10.0.0.7', Port: 8080 },
          wan: { Address: '198.51.100.1', Port: 80 },
        },
        Weights: { Passing: 3, Warning: 1 },
        EnableTagOverride: true,
      },
      '5567bb8dcc5ccde6',
    ],
    [
      'a native service',
      {
        ID: 'db',
        Service: 'db',
        Tags: null,
        Meta: null,
        Port: 5432,
        Weights: { Passing: 1, Warning: 1 },
        Connect: { Native: true },
      },
      'ee68d79b8e576ec2',
    ],
    [
      'a sidecar proxy with upstreams, opaque config, expose paths, access logs',
      {
        Kind: 'connect-proxy',
        ID: 'web-1-sidecar-proxy',
        Service: 'web-sidecar-proxy',
        Tags: [],
        Meta: {},
        Port: 21000,
        Weights: { Passing: 1, Warning: 1 },
        Proxy: proxy,
      },
      '4208f26ababc9b22',
    ],
    [
      'a mesh gateway with an empty proxy',
      {
        Kind: 'mesh-gateway',
        ID: 'mgw',
        Service: 'mesh-gateway',
        Tags: [],
        Meta: {},
        Port: 8443,
        Address: '192.0.2.10',
        Weights: { Passing: 1, Warning: 1 },
        Proxy: {},
      },
      'f5a0c303060e68e7',
    ],
    [
      'a peered service',
      { ID: 'peered', Service: 'peered', Port: 1, Weights: { Passing: 1, Warning: 1 }, PeerName: 'dc2' },
      '2a29c30a3a3c4ddc',
    ],
  ];
  it.each(table)('%s', (_name, value, hex) => {
    expect(goHex(hashGoValue(agentServiceType, value))).toBe(hex);
  });
});

const instance = (over: Partial<ServiceInstance>): ServiceInstance => ({
  ID: 'foo',
  Service: 'foo',
  Kind: '',
  Tags: ['bar', 'baz'],
  Address: '',
  TaggedAddresses: {},
  Meta: {},
  Port: 8000,
  Weights: { Passing: 1, Warning: 1 },
  EnableTagOverride: false,
  ...over,
});

describe('agentServiceContentHash', () => {
  it("is Consul's hash of the agent's answer for a stored service", () => {
    expect(agentServiceContentHash(instance({}))).toBe('1d5d568c14309fa8');
    // Locality and Namespace are in the answer but not in the hash, as in Consul.
    expect(agentServiceContentHash(instance({ Locality: { Region: 'r' }, Namespace: 'default' }))).toBe(
      '1d5d568c14309fa8',
    );
  });

  it('hashes Proxy for proxies and gateways only, and Connect only as {Native: true}', () => {
    const sidecar = instance({
      Kind: 'connect-proxy',
      ID: 'web-1-sidecar-proxy',
      Service: 'web-sidecar-proxy',
      Tags: [],
      Port: 21000,
      Proxy: proxy,
    });
    expect(agentServiceContentHash(sidecar)).toBe('4208f26ababc9b22');
    const gateway = instance({
      Kind: 'mesh-gateway',
      ID: 'mgw',
      Service: 'mesh-gateway',
      Tags: [],
      Port: 8443,
      Address: '192.0.2.10',
    });
    expect(agentServiceContentHash(gateway)).toBe('f5a0c303060e68e7');
    const native = instance({ ID: 'db', Service: 'db', Tags: [], Port: 5432 });
    expect(agentServiceContentHash({ ...native, Connect: { Native: true, Other: 1 } })).toBe(
      'ee68d79b8e576ec2',
    );
    // A plain service's Connect without Native is not in Consul's answer.
    expect(agentServiceContentHash({ ...native, Connect: { Native: false } })).toBe(
      agentServiceContentHash(native),
    );
  });

  it('changes with the content', () => {
    const base = agentServiceContentHash(instance({}));
    for (const over of [
      { Tags: ['bar'] },
      { Port: 8001 },
      { Meta: { a: 'b' } },
      { Address: '127.0.0.1' },
      { Weights: { Passing: 2, Warning: 1 } },
      { EnableTagOverride: true },
    ]) {
      expect(agentServiceContentHash(instance(over)), JSON.stringify(over)).not.toBe(base);
    }
  });

  it('still follows the content of a stored proxy that Consul could not decode', () => {
    const odd = (port: unknown) =>
      instance({ Kind: 'connect-proxy', Proxy: { LocalServicePort: port } as Record<string, unknown> });
    const a = agentServiceContentHash(odd('eighty'));
    expect(a).toMatch(/^[0-9a-f]{1,16}$/);
    expect(agentServiceContentHash(odd('ninety'))).not.toBe(a);
    expect(agentServiceContentHash(odd('eighty'))).toBe(a);
  });
});
