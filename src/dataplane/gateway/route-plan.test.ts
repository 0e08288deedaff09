import { describe, expect, it } from 'vitest';
import { parseSni, peeredServiceSni, peeringServerName } from '../sni.js';
import type { GatewayConfig } from './config.js';
import { renderHaproxy, slotsFor } from './haproxy-config.js';
import { planFor, type RoutePlan, routeKindOf } from './route-plan.js';
import { routeFor } from './routes.js';

const OURS = 'aaaa.consul';
const THEIRS = 'bbbb.consul';
const sidecar = { host: '10.0.0.1', port: 21000 };
const peerGateway = { host: '192.0.2.1', port: 8443 };
const peerServer = { host: '192.0.2.2', port: 8503 };
const server = { host: '127.0.0.1', port: 8502 };

function config(overrides: Partial<GatewayConfig> = {}): GatewayConfig {
  return {
    trustDomain: OURS,
    datacenter: 'dc1',
    exportedServices: {
      Kind: 'exported-services',
      Name: 'default',
      Services: [
        { Name: 'backend', Consumers: [{ Peer: 'cluster-02' }] },
        { Name: 'db', Consumers: [{ Partition: 'other' }] },
      ],
    },
    localServices: new Map([
      ['backend', [sidecar]],
      ['db', [sidecar]],
      ['admin', [sidecar]],
      ['empty', []],
    ]),
    peers: [{ name: 'cluster-02', trustDomain: THEIRS, gateways: [peerGateway], servers: [peerServer] }],
    peerThroughMeshGateways: true,
    localServers: [server],
    proxyConfig: {},
    ...overrides,
  };
}

/** Where the plan sends `name`, reading it as HAProxy does: exact names first, then patterns in order. */
function lookup(plan: RoutePlan, name: string): string | undefined {
  const lower = name.toLowerCase();
  return (
    plan.names.get(lower) ?? plan.patterns.find((p) => new RegExp(p.regex).test(lower))?.backend ?? undefined
  );
}

function endpointsOf(plan: RoutePlan, backend: string | undefined) {
  return plan.backends.find((b) => b.name === backend)?.endpoints;
}

describe('planFor', () => {
  it('routes exactly the names routeFor routes, to the same endpoints', () => {
    const c = config();
    const plan = planFor(c, 5000);
    const names = [
      peeredServiceSni({ service: 'backend', peer: 'cluster-02', trustDomain: OURS }),
      peeredServiceSni({ service: 'BACKEND', peer: 'cluster-02', trustDomain: OURS }).toUpperCase(),
      peeredServiceSni({ service: 'admin', peer: 'cluster-02', trustDomain: OURS }),
      peeredServiceSni({ service: 'db', peer: 'cluster-02', trustDomain: OURS }),
      peeredServiceSni({ service: 'backend', peer: 'cluster-03', trustDomain: OURS }),
      peeredServiceSni({ service: 'backend', namespace: 'other', peer: 'cluster-02', trustDomain: OURS }),
      peeredServiceSni({ service: 'backend', partition: 'other', peer: 'cluster-02', trustDomain: OURS }),
      peeredServiceSni({ service: 'web', peer: 'cluster-01', trustDomain: THEIRS }),
      peeredServiceSni({ service: 'x', peer: 'y', trustDomain: 'cccc.consul' }),
      peeringServerName('dc1', OURS),
      peeringServerName('dc2', OURS),
      peeringServerName('dc9', THEIRS),
      `server.dc9.peering.zz.external.${THEIRS}`,
      `a.b.c.d.external.sub.${THEIRS}`,
      `a.b.c.external.${THEIRS}`,
      `a.b.c.d.e.external.${THEIRS}`,
      `a..c.d.external.${THEIRS}`,
      `-a.b.c.d.external.${THEIRS}`,
      `a.b.c.d.external.${THEIRS}x`,
      `a.b.c.d.external.bbbbxconsul`,
      'backend.default.dc1.internal.aaaa.consul',
      'example.com',
    ];
    for (const name of names) {
      const route = routeFor(c, name);
      const backend = lookup(plan, name);
      if (route.kind === 'refused') expect(backend, name).toBeUndefined();
      else expect(endpointsOf(plan, backend), name).toEqual(route.endpoints);
    }
    // Sanity: the list above does exercise both outcomes and the peering kinds.
    expect(parseSni(names[11]!)?.kind).toBe('peering-server');
    expect(lookup(plan, names[0]!)).toBe('service.backend');
    expect(lookup(plan, names[7]!)).toBe('peer.cluster-02.gateways');
    expect(lookup(plan, names[11]!)).toBe('peer.cluster-02.servers');
    expect(lookup(plan, names[9]!)).toBe('local.servers');
  });

  it("tells each destination's kind back from its name, as an engine's log line gives it", () => {
    const plan = planFor(config(), 5000);
    expect(new Set(plan.backends.map((b) => b.kind))).toEqual(
      new Set(['inbound', 'peering-inbound', 'peering-outbound', 'outbound']),
    );
    for (const backend of plan.backends) expect(routeKindOf(backend.name), backend.name).toBe(backend.kind);
    expect(routeKindOf('meshpeer_refused')).toBeUndefined();
  });

  it('follows wildcard exports and leaves out services without instances', () => {
    const plan = planFor(
      config({
        exportedServices: {
          Kind: 'exported-services',
          Name: 'default',
          Services: [{ Name: '*', Consumers: [{ Peer: 'cluster-02' }, { Peer: 'cluster-03' }] }],
        },
      }),
      5000,
    );
    expect([...plan.names.keys()]).toEqual([
      peeredServiceSni({ service: 'admin', peer: 'cluster-02', trustDomain: OURS }),
      peeredServiceSni({ service: 'admin', peer: 'cluster-03', trustDomain: OURS }),
      peeredServiceSni({ service: 'backend', peer: 'cluster-02', trustDomain: OURS }),
      peeredServiceSni({ service: 'backend', peer: 'cluster-03', trustDomain: OURS }),
      peeredServiceSni({ service: 'db', peer: 'cluster-02', trustDomain: OURS }),
      peeredServiceSni({ service: 'db', peer: 'cluster-03', trustDomain: OURS }),
      peeringServerName('dc1', OURS),
    ]);
    // Every local service has its backend (with no name routed to it unless exported and instantiated).
    expect(plan.backends.map((b) => b.name)).toContain('service.empty');
    expect([...plan.names.values()]).not.toContain('service.empty');
  });

  it('carries no peering-server routes when peering through gateways is off', () => {
    const plan = planFor(config({ peerThroughMeshGateways: false }), 5000);
    expect(lookup(plan, peeringServerName('dc1', OURS))).toBeUndefined();
    expect(lookup(plan, peeringServerName('dc9', THEIRS))).toBeUndefined();
    expect(lookup(plan, peeredServiceSni({ service: 'web', peer: 'p', trustDomain: THEIRS }))).toBe(
      'peer.cluster-02.gateways',
    );
  });

  it('takes the dial timeout from Proxy.Config.connect_timeout_ms', () => {
    expect(planFor(config(), 5000).connectTimeoutMs).toBe(5000);
    expect(planFor(config({ proxyConfig: { connect_timeout_ms: 1500 } }), 5000).connectTimeoutMs).toBe(1500);
    expect(planFor(config({ proxyConfig: { connect_timeout_ms: 'x' } }), 5000).connectTimeoutMs).toBe(5000);
  });
});

describe('renderHaproxy', () => {
  const paths = {
    listen: { host: '127.0.0.1', port: 8443 },
    namesMap: '/run/gw/names.map',
    patternsMap: '/run/gw/patterns.map',
    adminSocket: '/run/gw/admin.sock',
    clientHelloTimeoutMs: 10_000,
  };

  it('renders one backend per destination, the maps, and rejects the rest', () => {
    const rendered = renderHaproxy(planFor(config(), 5000), paths);
    expect(rendered.config).toContain('bind 127.0.0.1:8443');
    expect(rendered.config).toContain('tcp-request inspect-delay 10000');
    expect(rendered.config).toContain('timeout connect 5000');
    expect(rendered.config).toContain('map(/run/gw/names.map)');
    expect(rendered.config).toContain('map_reg(/run/gw/patterns.map)');
    expect(rendered.config).toContain('tcp-request content reject unless { var(sess.route) -m found }');
    expect(rendered.config).toMatch(/backend service\.backend\n(.*\n)*? {2}server s0 10\.0\.0\.1:21000\n/);
    expect(rendered.config).toContain('  server s3 0.0.0.0:1 disabled');
    expect(rendered.namesMap).not.toContain('service.admin');
    expect(rendered.namesMap).toBe(
      `${peeredServiceSni({ service: 'backend', peer: 'cluster-02', trustDomain: OURS })} service.backend\n` +
        `${peeringServerName('dc1', OURS)} local.servers\n`,
    );
    expect(rendered.patternsMap.split('\n').filter(Boolean)).toHaveLength(2);
  });

  it('renders IPv6 endpoints in brackets and resolves names at start without failing on them', () => {
    const rendered = renderHaproxy(
      planFor(
        config({
          localServices: new Map([
            [
              'backend',
              [
                { host: '::1', port: 1 },
                { host: 'db.local', port: 2 },
              ],
            ],
          ]),
        }),
        5000,
      ),
      paths,
    );
    expect(rendered.config).toContain('server s0 [::1]:1\n');
    expect(rendered.config).toContain('server s1 db.local:2 init-addr libc,none\n');
  });

  it('gives each backend room to grow in powers of two', () => {
    expect([0, 1, 4, 5, 9].map(slotsFor)).toEqual([4, 4, 4, 8, 16]);
  });
});
