import { describe, expect, it } from 'vitest';
import { peeredServiceSni, peeringServerName } from '../sni.js';
import type { GatewayConfig } from './config.js';
import { routeFor } from './routes.js';

const OURS = 'aaaa.consul';
const THEIRS = 'bbbb.consul';
const sidecar = { host: '10.0.0.1', port: 21000 };
const peerGateway = { host: '192.0.2.1', port: 8443 };
const peerServer = { host: '192.0.2.1', port: 8443 };
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
    ]),
    peers: [{ name: 'cluster-02', trustDomain: THEIRS, gateways: [peerGateway], servers: [peerServer] }],
    peerThroughMeshGateways: true,
    localServers: [server],
    proxyConfig: {},
    ...overrides,
  };
}

const inbound = (service: string, peer = 'cluster-02'): string =>
  peeredServiceSni({ service, peer, trustDomain: OURS });

describe('routeFor', () => {
  it('sends a peer to the sidecars of a service exported to it', () => {
    expect(routeFor(config(), inbound('backend'))).toMatchObject({ kind: 'inbound', endpoints: [sidecar] });
  });

  it('refuses services not exported to the peer named in the SNI', () => {
    expect(routeFor(config(), inbound('admin'))).toMatchObject({ kind: 'refused', reason: 'not-exported' });
    expect(routeFor(config(), inbound('db'))).toMatchObject({ kind: 'refused', reason: 'not-exported' });
    expect(routeFor(config(), inbound('backend', 'cluster-03'))).toMatchObject({ reason: 'not-exported' });
    expect(routeFor(config({ exportedServices: undefined }), inbound('backend'))).toMatchObject({
      reason: 'not-exported',
    });
  });

  it('follows a wildcard export to every local service', () => {
    const wildcard = config({
      exportedServices: {
        Kind: 'exported-services',
        Name: 'default',
        Services: [{ Name: '*', Consumers: [{ Peer: 'cluster-02' }] }],
      },
    });
    expect(routeFor(wildcard, inbound('admin'))).toMatchObject({ kind: 'inbound' });
  });

  it('refuses an exported service with no instance', () => {
    const none = config({ localServices: new Map([['backend', []]]) });
    expect(routeFor(none, inbound('backend'))).toMatchObject({ kind: 'refused', reason: 'no-instances' });
  });

  it("sends traffic for a peer's service to that peer's gateways", () => {
    const name = peeredServiceSni({ service: 'api', peer: 'cluster-01', trustDomain: THEIRS });
    expect(routeFor(config(), name)).toMatchObject({ kind: 'outbound', endpoints: [peerGateway] });
    const unknown = peeredServiceSni({ service: 'api', peer: 'cluster-01', trustDomain: 'cccc.consul' });
    expect(routeFor(config(), unknown)).toMatchObject({ kind: 'refused', reason: 'unknown-peer' });
  });

  it('carries peering streams only when PeerThroughMeshGateways is on', () => {
    expect(routeFor(config(), peeringServerName('dc1', OURS))).toMatchObject({
      kind: 'peering-inbound',
      endpoints: [server],
    });
    expect(routeFor(config(), peeringServerName('dc1', THEIRS))).toMatchObject({
      kind: 'peering-outbound',
      endpoints: [peerServer],
    });
    expect(routeFor(config(), peeringServerName('dc9', OURS))).toMatchObject({ reason: 'unknown-name' });
    expect(
      routeFor(config({ peerThroughMeshGateways: false }), peeringServerName('dc1', OURS)),
    ).toMatchObject({
      reason: 'peering-through-gateways-off',
    });
  });

  it('refuses local service names and anything outside the scheme', () => {
    expect(routeFor(config(), `backend.default.dc1.internal.${OURS}`)).toMatchObject({
      reason: 'unknown-name',
    });
    expect(routeFor(config(), 'example.com')).toMatchObject({ reason: 'unknown-name' });
  });
});
