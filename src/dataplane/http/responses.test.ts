import { describe, expect, it } from 'vitest';
import { type HealthService, passingConnectEndpoints, passingEndpoints } from './responses.js';

const check = (Status: string) => ({ Status });
const instance = (id: string, port: number, statuses: string[], node = 'n1'): HealthService => ({
  Node: { Node: node, Address: '10.0.0.1' },
  Service: { ID: id, Service: 'backend', Port: port },
  Checks: statuses.map(check),
});
const sidecar = (
  id: string,
  port: number,
  statuses: string[],
  proxy: Record<string, unknown> = {},
  node = 'n1',
): HealthService => ({
  Node: { Node: node, Address: '10.0.0.1' },
  Service: {
    ID: id,
    Service: 'backend-sidecar-proxy',
    Kind: 'connect-proxy',
    Port: port,
    Proxy: { DestinationServiceName: 'backend', ...proxy },
  },
  Checks: statuses.map(check),
});

describe('passing instances', () => {
  it('counts an instance while every check passes; warning and critical take it out', () => {
    expect(
      passingEndpoints([
        instance('a', 1, ['passing', 'passing']),
        instance('b', 2, ['passing', 'warning']),
        instance('c', 3, ['critical']),
        instance('d', 4, []),
      ]).map((e) => e.port),
    ).toEqual([1, 4]);
  });

  it('counts a sidecar while it and the instance it fronts pass', () => {
    const proxies = [
      sidecar('p1', 21000, ['passing'], { LocalServicePort: 9001 }),
      sidecar('p2', 21001, ['passing'], { LocalServicePort: 9002 }),
      sidecar('p3', 21002, ['critical'], { LocalServicePort: 9003 }),
    ];
    const instances = [
      instance('b1', 9001, ['passing']),
      instance('b2', 9002, ['critical']),
      instance('b3', 9003, ['passing']),
    ];
    expect(passingConnectEndpoints(proxies, instances).map((e) => e.port)).toEqual([21000]);
  });

  it('finds the fronted instance by DestinationServiceID, then port, then node', () => {
    const instances = [instance('b1', 9001, ['passing']), instance('b2', 9002, ['critical'])];
    expect(
      passingConnectEndpoints([sidecar('p', 1, [], { DestinationServiceID: 'b1' })], instances),
    ).toHaveLength(1);
    expect(
      passingConnectEndpoints([sidecar('p', 1, [], { DestinationServiceID: 'b2' })], instances),
    ).toHaveLength(0);
    // No ID, no port: every instance of the service on the node must pass.
    expect(passingConnectEndpoints([sidecar('p', 1, [])], instances)).toHaveLength(0);
    // Another node's instances say nothing about this sidecar.
    expect(passingConnectEndpoints([sidecar('p', 1, [], {}, 'n2')], instances)).toHaveLength(1);
  });
});
