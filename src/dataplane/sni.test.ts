import { describe, expect, it } from 'vitest';
import { localServiceSni, parseSni, peeredServiceSni, peeringServerName } from './sni.js';

const TD = '7c3f0a2e-1b2c-4d5e-8f90-123456789abc.consul';

describe('SNI names', () => {
  it("builds a peered service's name in Consul's layout and parses it back", () => {
    const name = peeredServiceSni({ service: 'backend', peer: 'cluster-02', trustDomain: TD });
    expect(name).toBe(`backend.default.default.cluster-02.external.${TD}`);
    expect(parseSni(name)).toEqual({
      kind: 'peered',
      service: 'backend',
      namespace: 'default',
      partition: 'default',
      peer: 'cluster-02',
      trustDomain: TD,
    });
  });

  it("builds a local service's name and parses it back", () => {
    const name = localServiceSni({ service: 'web', datacenter: 'dc1', trustDomain: TD });
    expect(name).toBe(`web.default.dc1.internal.${TD}`);
    expect(parseSni(name)).toEqual({
      kind: 'local',
      service: 'web',
      namespace: 'default',
      datacenter: 'dc1',
      trustDomain: TD,
    });
  });

  it('parses the peering server name', () => {
    expect(parseSni(peeringServerName('dc1', TD))).toEqual({
      kind: 'peering-server',
      datacenter: 'dc1',
      trustDomain: TD,
    });
  });

  it('refuses to build a name from a part that would change its shape', () => {
    expect(() => peeredServiceSni({ service: 'a.b', peer: 'p', trustDomain: TD })).toThrow(/one DNS label/);
    expect(() => peeredServiceSni({ service: 'web', peer: '', trustDomain: TD })).toThrow(/peer/);
  });

  it('returns undefined for names outside the scheme', () => {
    for (const name of [
      'backend',
      'example.com',
      `a.b.c.d.external.`,
      `a..c.d.external.${TD}`,
      `server.dc1.peering.`,
    ]) {
      expect(parseSni(name), name).toBeUndefined();
    }
  });
});
