// Rule parsing and the authorizer's precedence: exact beats prefix, longest prefix wins, deny beats
// write beats read across policies, mesh/peering fall back to operator, and the default applies last
// (but for acl, which only a rule grants).
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

  it('reads the acl rule: acl:read/write as granted, and no ACL access without one whatever the default', async () => {
    const rules = await parseRules('acl = "read"\nservice_prefix "" { policy = "read" }');
    expect(rules.acl).toBe('read');
    const a = new PolicyAuthorizer([rules], false);
    expect(a.allowed('service', 'read', 'web')).toBe(true);
    expect(a.allowed('acl', 'read')).toBe(true);
    expect(a.allowed('acl', 'write')).toBe(false);
    expect(a.allowed('operator', 'read')).toBe(false);
    expect(a.allowed('mesh', 'read')).toBe(false);
    const allowAll = new PolicyAuthorizer([], true);
    expect(allowAll.allowed('service', 'write', 'web')).toBe(true);
    expect(allowAll.allowed('acl', 'read')).toBe(false);
    await expect(parseRules('acl = "admin"')).rejects.toThrow(/acl: policy must be/);
  });

  it('reads agent and agent_prefix rules with the same precedence as node rules', async () => {
    const rules = await parseRules(
      'agent_prefix "" { policy = "read" } agent "foo" { policy = "write" } agent_prefix "db-" { policy = "deny" }',
    );
    expect(rules.agent).toEqual({ foo: 'write' });
    expect(rules.agentPrefix).toEqual({ '': 'read', 'db-': 'deny' });
    const a = new PolicyAuthorizer([rules], true);
    expect(a.allowed('agent', 'write', 'foo')).toBe(true);
    expect(a.allowed('agent', 'read', 'bar')).toBe(true);
    expect(a.allowed('agent', 'write', 'bar')).toBe(false);
    expect(a.allowed('agent', 'read', 'db-1')).toBe(false);
    // agent rules say nothing about nodes.
    expect(new PolicyAuthorizer([rules], false).allowed('node', 'read', 'foo')).toBe(false);
  });

  it("accepts Consul's rules for resources meshpeer does not have, granting nothing", async () => {
    const rules = await parseRules(
      'key_prefix "" { policy = "list" }\nsession_prefix "" { policy = "write" }\nkeyring = "read"\n' +
        'service "web" { policy = "read" intentions = "write" }\nquery "q" { policy = "read" }',
    );
    expect(rules.service).toEqual({ web: 'read' });
    const a = new PolicyAuthorizer([rules], false);
    expect(a.allowed('service', 'write', 'web')).toBe(false);
    expect(a.allowed('operator', 'read')).toBe(false);
    await expect(parseRules('service "web" { intentions = "admin" }')).rejects.toThrow(
      /service "web" intentions: policy must be/,
    );
    await expect(parseRules('node "n" { policy = "list" }')).rejects.toThrow(/node "n": policy must be/);
  });

  it('refuses unsupported fields in a block and unknown rules', async () => {
    await expect(parseRules('service "web" {\n  policy = "read"\n  weight = "write"\n}')).rejects.toThrow(
      /unsupported field "weight"/,
    );
    await expect(parseRules('node "n" { policy = "read" intentions = "read" }')).rejects.toThrow(
      /unsupported field "intentions"/,
    );
    await expect(parseRules('keyrings = "read"')).rejects.toThrow(/unknown rule "keyrings"/);
  });

  it('reads HCL 1 one-line blocks, as Consul does', async () => {
    const rules = await parseRules(
      'node_prefix "" { policy = "read" } service_prefix "" { policy = "read" }',
    );
    expect(rules.nodePrefix).toEqual({ '': 'read' });
    expect(rules.servicePrefix).toEqual({ '': 'read' });
  });

  it('takes the strongest of the same rule given twice in one policy', async () => {
    const rules = await parseRules('service "web" { policy = "write" }\nservice "web" { policy = "read" }');
    expect(rules.service).toEqual({ web: 'write' });
    const denied = await parseRules('service "web" { policy = "write" }\nservice "web" { policy = "deny" }');
    expect(denied.service).toEqual({ web: 'deny' });
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
