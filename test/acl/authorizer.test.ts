// Rule parsing and the authorizer's precedence: exact beats prefix, longest prefix wins, deny beats
// write beats read across policies, mesh/peering fall back to operator, and the default applies last.
import { describe, expect, it } from 'vitest';
import { PolicyAuthorizer } from '../../src/acl/authorizer.js';
import { parseRules } from '../../src/acl/rules.js';

describe('ACL rules', () => {
  it('parses HCL and JSON into the same rules', async () => {
    const hcl = await parseRules(
      'service "web" { policy = "write" }\nservice_prefix "" { policy = "read" }\npeering = "read"',
    );
    const json = await parseRules(
      '{"service": {"web": {"policy": "write"}}, "service_prefix": {"": {"policy": "read"}}, "peering": "read"}',
    );
    expect(hcl).toEqual(json);
    expect(hcl.service).toEqual({ web: 'write' });
  });

  it('accepts and keeps the acl rule (as Consul policies carry it) without granting anything else', async () => {
    const rules = await parseRules('acl = "read"\nservice_prefix "" { policy = "read" }');
    expect(rules.acl).toBe('read');
    const a = new PolicyAuthorizer([rules], false);
    expect(a.allowed('service', 'read', 'web')).toBe(true);
    expect(a.allowed('operator', 'read')).toBe(false);
    expect(a.allowed('mesh', 'read')).toBe(false);
    await expect(parseRules('acl = "admin"')).rejects.toThrow(/acl: policy must be/);
  });

  it('refuses unsupported fields in a block', async () => {
    await expect(parseRules('service "web" {\n  policy = "read"\n  intentions = "write"\n}')).rejects.toThrow(
      /unsupported field "intentions"/,
    );
  });

  it('resolves precedence like Consul', async () => {
    const a = await parseRules(
      'service_prefix "" { policy = "read" }\nservice_prefix "api-" { policy = "write" }',
    );
    const b = await parseRules('service "api-secret" { policy = "deny" }\noperator = "write"');
    const authz = new PolicyAuthorizer([a, b], false);
    expect(authz.allowed('service', 'write', 'api-users')).toBe(true);
    expect(authz.allowed('service', 'write', 'web')).toBe(false);
    expect(authz.allowed('service', 'read', 'web')).toBe(true);
    expect(authz.allowed('service', 'read', 'api-secret')).toBe(false);
    expect(authz.allowed('mesh', 'write')).toBe(true);
    expect(authz.allowed('node', 'read', 'n1')).toBe(false);
    expect(new PolicyAuthorizer([], true).allowed('node', 'write', 'n1')).toBe(true);
  });
});
