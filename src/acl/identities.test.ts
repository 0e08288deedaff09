// Service and node identities: checked and deduplicated as Consul does, and granting what Consul's
// synthetic policies grant, in their datacenters only.
import { describe, expect, it } from 'vitest';
import { PolicyAuthorizer } from './authorizer.js';
import { decodeNodeIdentities, decodeServiceIdentities, identityRules } from './identities.js';

describe('service identities', () => {
  it('grant write on the service and its sidecar, read on every service and node', () => {
    const authz = new PolicyAuthorizer(identityRules([{ ServiceName: 'web' }], [], 'dc1'), false);
    expect(authz.allowed('service', 'write', 'web')).toBe(true);
    expect(authz.allowed('service', 'write', 'web-sidecar-proxy')).toBe(true);
    expect(authz.allowed('service', 'write', 'db')).toBe(false);
    expect(authz.allowed('service', 'read', 'db')).toBe(true);
    expect(authz.allowed('node', 'read', 'any')).toBe(true);
    expect(authz.allowed('node', 'write', 'any')).toBe(false);
    expect(authz.allowed('mesh', 'read')).toBe(false);
  });

  it('grant nothing outside their datacenters', () => {
    const rules = identityRules([{ ServiceName: 'web', Datacenters: ['dc2'] }], [], 'dc1');
    expect(new PolicyAuthorizer(rules, false).allowed('service', 'write', 'web')).toBe(false);
    expect(identityRules([{ ServiceName: 'web', Datacenters: ['dc1'] }], [], 'dc1')).toHaveLength(1);
  });

  it('are checked and deduplicated, datacenters merged (none meaning all)', () => {
    expect(
      decodeServiceIdentities([
        { ServiceName: 'web', Datacenters: ['dc1'] },
        { ServiceName: 'web', Datacenters: ['dc2'] },
        { ServiceName: 'db', Datacenters: ['dc1'] },
        { ServiceName: 'db' },
      ]),
    ).toEqual([{ ServiceName: 'web', Datacenters: ['dc1', 'dc2'] }, { ServiceName: 'db' }]);
    expect(decodeServiceIdentities(undefined)).toEqual([]);
    expect(() => decodeServiceIdentities([{}])).toThrow(
      'Service identity is missing the service name field on this token',
    );
    expect(() => decodeServiceIdentities([{ ServiceName: 'Web' }])).toThrow(
      /Service identity "Web" has an invalid name/,
    );
    expect(() => decodeServiceIdentities({ ServiceName: 'web' })).toThrow(
      /ServiceIdentities: must be a list/,
    );
  });
});

describe('node identities', () => {
  it('grant write on the node and read on every service, in their datacenter only', () => {
    const authz = new PolicyAuthorizer(
      identityRules([], [{ NodeName: 'n1', Datacenter: 'dc1' }], 'dc1'),
      false,
    );
    expect(authz.allowed('node', 'write', 'n1')).toBe(true);
    expect(authz.allowed('node', 'read', 'n2')).toBe(false);
    expect(authz.allowed('service', 'read', 'web')).toBe(true);
    expect(authz.allowed('service', 'write', 'web')).toBe(false);
    expect(identityRules([], [{ NodeName: 'n1', Datacenter: 'dc2' }], 'dc1')).toEqual([]);
  });

  it('need a valid name and a datacenter', () => {
    expect(() => decodeNodeIdentities([{ NodeName: 'n1' }])).toThrow(
      'Node identity is missing the datacenter field on this token',
    );
    expect(() => decodeNodeIdentities([{ Datacenter: 'dc1' }])).toThrow(
      'Node identity is missing the node name field on this token',
    );
    expect(() => decodeNodeIdentities([{ NodeName: 'N_1!', Datacenter: 'dc1' }])).toThrow(/invalid name/);
    expect(
      decodeNodeIdentities([
        { NodeName: 'n1', Datacenter: 'dc1' },
        { NodeName: 'n1', Datacenter: 'dc1' },
      ]),
    ).toEqual([{ NodeName: 'n1', Datacenter: 'dc1' }]);
  });
});
