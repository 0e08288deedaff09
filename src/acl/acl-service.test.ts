// The ACL service on an in-memory store: built-in policies, the anonymous and initial management
// tokens in lists, token updates, identities, list filters and the not-bootstrapped refusal.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { AclService, ANONYMOUS_ACCESSOR, GLOBAL_MANAGEMENT_ID } from './acl-service.js';
import { markBootstrapped } from './bootstrap.js';
import { GLOBAL_READ_ONLY_ID } from './builtin-policies.js';

const ROOT = 'c0ffee00-0000-4000-8000-000000000001';
let store: Store;
let acl: AclService;

beforeEach(() => {
  store = openStore({ backend: 'memory' });
  acl = new AclService(store, { initialManagementToken: ROOT, defaultPolicy: 'deny', datacenter: 'dc1' });
});
afterEach(async () => {
  await store.close();
});

describe('built-in policies', () => {
  it('are listed and readable with Consul IDs, names and rules', () => {
    const names = acl.listPolicies().map((p) => `${p.ID} ${p.Name}`);
    expect(names).toEqual([
      `${GLOBAL_MANAGEMENT_ID} global-management`,
      `${GLOBAL_READ_ONLY_ID} builtin/global-read-only`,
    ]);
    const readOnly = acl.readPolicy(GLOBAL_READ_ONLY_ID);
    expect(readOnly.Rules).toContain('service_prefix "" {\n\tpolicy = "read"\n\tintentions = "read"\n}');
    expect(acl.readPolicy(GLOBAL_MANAGEMENT_ID).Rules).toContain('acl = "write"');
  });

  it('cannot be deleted or have their rules or datacenters changed, but may be renamed', async () => {
    await expect(acl.deletePolicy(GLOBAL_MANAGEMENT_ID)).rejects.toThrow(
      'Delete operation not permitted on the builtin global-management policy',
    );
    await expect(acl.deletePolicy(GLOBAL_READ_ONLY_ID)).rejects.toThrow(/global-read-only policy/);
    const rules = acl.readPolicy(GLOBAL_READ_ONLY_ID).Rules;
    await expect(
      acl.writePolicy({ Name: 'ro', Rules: 'operator = "write"' }, GLOBAL_READ_ONLY_ID),
    ).rejects.toThrow('Changing the Rules for the builtin global-read-only policy is not permitted');
    await expect(
      acl.writePolicy({ Name: 'ro', Rules: rules, Datacenters: ['dc1'] }, GLOBAL_READ_ONLY_ID),
    ).rejects.toThrow('Changing the Datacenters of the builtin global-read-only policy is not permitted');
    const renamed = await acl.writePolicy({ Name: 'read-everything', Rules: rules }, GLOBAL_READ_ONLY_ID);
    expect(renamed.Name).toBe('read-everything');
    expect(acl.listPolicies().filter((p) => p.ID === GLOBAL_READ_ONLY_ID)).toHaveLength(1);
    await expect(acl.writePolicy({ Name: 'read-everything', Rules: '' })).rejects.toThrow(/already exists/);
  });

  it('global-read-only reads everything and writes nothing', async () => {
    const token = await acl.createToken({ Policies: [{ Name: 'builtin/global-read-only' }] });
    const { authorizer } = acl.resolve(token.SecretID);
    expect(authorizer.management).toBe(false);
    expect(authorizer.allowed('service', 'read', 'web')).toBe(true);
    expect(authorizer.allowed('agent', 'read', 'n1')).toBe(true);
    expect(authorizer.allowed('acl', 'read')).toBe(true);
    expect(authorizer.allowed('service', 'write', 'web')).toBe(false);
    expect(authorizer.allowed('acl', 'write')).toBe(false);
  });
});

describe('tokens', () => {
  it('lists the initial management and anonymous tokens with the created ones, and reads them', async () => {
    const created = await acl.createToken({ Description: 'mine' });
    const list = acl.listTokens();
    expect(list.map((t) => t.Description)).toEqual(['Initial Management Token', 'Anonymous Token', 'mine']);
    const root = list[0];
    expect(root?.SecretID).toBe(ROOT);
    expect(acl.readToken(root?.AccessorID ?? '').Policies).toEqual([
      { ID: GLOBAL_MANAGEMENT_ID, Name: 'global-management' },
    ]);
    expect(acl.readToken(ANONYMOUS_ACCESSOR).SecretID).toBe('anonymous');
    expect(acl.readToken(created.AccessorID).Description).toBe('mine');
    await expect(acl.deleteToken(ANONYMOUS_ACCESSOR)).rejects.toThrow(/anonymous token/);
  });

  it('updates description, policies (by ID or Name, deduplicated) and identities, keeping the secret', async () => {
    const a = await acl.writePolicy({ Name: 'a', Rules: 'service "a" { policy = "write" }' });
    const b = await acl.writePolicy({ Name: 'b', Rules: 'service "b" { policy = "write" }' });
    const t = await acl.createToken({ Description: 'first', Policies: [{ ID: a.ID }] });
    const updated = await acl.updateToken(t.AccessorID, {
      Description: 'second',
      Policies: [{ ID: a.ID }, { Name: 'b' }, { ID: b.ID }],
      ServiceIdentities: [{ ServiceName: 'web' }],
    });
    expect(updated.SecretID).toBe(t.SecretID);
    expect(updated.CreateIndex).toBe(t.CreateIndex);
    expect(updated.ModifyIndex).toBeGreaterThan(t.ModifyIndex);
    expect(updated.Policies.map((p) => p.Name)).toEqual(['a', 'b']);
    expect(updated.ServiceIdentities).toEqual([{ ServiceName: 'web' }]);
    const { authorizer } = acl.resolve(t.SecretID);
    expect(authorizer.allowed('service', 'write', 'b')).toBe(true);
    expect(authorizer.allowed('service', 'write', 'web-sidecar-proxy')).toBe(true);
    await expect(
      acl.updateToken(t.AccessorID, { SecretID: 'c0ffee00-0000-4000-8000-00000000000f' }),
    ).rejects.toThrow("Changing a token's SecretID is not permitted");
    await expect(
      acl.updateToken(t.AccessorID, { AccessorID: 'c0ffee00-0000-4000-8000-00000000000f' }),
    ).rejects.toThrow('Token Accessor ID in URL and payload do not match');
    await expect(acl.updateToken(root(), { Description: 'x' })).rejects.toThrow(/initial management token/);
    await expect(acl.updateToken('c0ffee00-0000-4000-8000-0000000000aa', {})).rejects.toThrow(
      /Cannot find token/,
    );
  });

  it("gives requests without a token the anonymous token's policies once they are set", async () => {
    expect(acl.resolve(undefined).authorizer.allowed('service', 'read', 'web')).toBe(false);
    await acl.writePolicy({ Name: 'dns', Rules: 'service_prefix "" { policy = "read" }' });
    await acl.updateToken(ANONYMOUS_ACCESSOR, {
      Description: 'Anonymous Token',
      Policies: [{ Name: 'dns' }],
    });
    expect(acl.resolve(undefined).authorizer.allowed('service', 'read', 'web')).toBe(true);
    expect(acl.listTokens().filter((t) => t.AccessorID === ANONYMOUS_ACCESSOR)).toHaveLength(1);
  });

  it('filters the list by policy, service identity, role or auth method (one at a time)', async () => {
    const p = await acl.writePolicy({ Name: 'p', Rules: '' });
    await acl.createToken({ Description: 't1', ServiceIdentities: [{ ServiceName: 's1' }] });
    await acl.createToken({
      Description: 't2',
      Policies: [{ ID: p.ID }],
      ServiceIdentities: [{ ServiceName: 's2' }],
    });
    const names = (f: Parameters<AclService['listTokens']>[0]) => acl.listTokens(f).map((t) => t.Description);
    expect(names({ serviceName: 's1' })).toEqual(['t1']);
    expect(names({ policy: p.ID })).toEqual(['t2']);
    expect(names({ policy: GLOBAL_MANAGEMENT_ID })).toEqual(['Initial Management Token']);
    expect(names({ role: 'any' })).toEqual([]);
    expect(names({ serviceName: '' })).toHaveLength(4);
    expect(() => acl.listTokens({ serviceName: 's1', authMethod: 'a' })).toThrow(/can only filter by one of/);
  });
});

describe('policy datacenters', () => {
  it('are kept, and a policy for other datacenters grants nothing here', async () => {
    const here = await acl.writePolicy({
      Name: 'here',
      Rules: 'service "a" { policy = "write" }',
      Datacenters: ['dc1'],
    });
    const there = await acl.writePolicy({
      Name: 'there',
      Rules: 'service "b" { policy = "write" }',
      Datacenters: ['dc2'],
    });
    expect(acl.readPolicy(here.ID).Datacenters).toEqual(['dc1']);
    expect(
      acl.readPolicy((await acl.writePolicy({ Name: 'all', Rules: '' })).ID).Datacenters,
    ).toBeUndefined();
    const t = await acl.createToken({ Policies: [{ ID: here.ID }, { ID: there.ID }] });
    const { authorizer } = acl.resolve(t.SecretID);
    expect(authorizer.allowed('service', 'write', 'a')).toBe(true);
    expect(authorizer.allowed('service', 'write', 'b')).toBe(false);
  });
});

describe('an unknown secret', () => {
  it('is refused as not found, and says so differently before the bootstrap', async () => {
    const fresh = new AclService(store, { defaultPolicy: 'deny' });
    expect(() => fresh.resolve('nope')).toThrow(
      'ACL system must be bootstrapped before making any requests that require authorization: ACL not found',
    );
    await markBootstrapped(store);
    expect(() => fresh.resolve('nope')).toThrow(/^ACL not found$/);
  });
});

function root(): string {
  return acl.listTokens()[0]?.AccessorID ?? '';
}
