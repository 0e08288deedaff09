import { describe, expect, it } from 'vitest';
import { aclStateOf } from '../http/responses.js';
import { defaultIntention } from './default-intention.js';

describe('defaultIntention', () => {
  it('is allow when the server has ACLs off', () => {
    expect(defaultIntention(undefined, { kind: 'reported', enabled: false })).toEqual({
      action: 'allow',
      reason: 'ACLs are disabled on the server',
    });
  });

  it('is the ACL default policy when ACLs are on; anything else but allow/deny is deny', () => {
    expect(
      defaultIntention(undefined, { kind: 'reported', enabled: true, defaultPolicy: 'deny' }).action,
    ).toBe('deny');
    expect(
      defaultIntention(undefined, { kind: 'reported', enabled: true, defaultPolicy: 'allow' }).action,
    ).toBe('allow');
    expect(defaultIntention(undefined, { kind: 'reported', enabled: true }).action).toBe('deny');
    expect(
      defaultIntention(undefined, { kind: 'reported', enabled: true, defaultPolicy: 'extend-cache' }).action,
    ).toBe('deny');
  });

  it('fails closed when the server refuses to say or says nothing', () => {
    expect(
      defaultIntention(undefined, { kind: 'refused', status: 403, message: 'Permission denied' }),
    ).toMatchObject({ action: 'deny', reason: expect.stringMatching(/HTTP 403/) });
    expect(defaultIntention(undefined, { kind: 'unreported' }).action).toBe('deny');
    expect(defaultIntention(undefined, undefined).action).toBe('deny');
  });

  it('lets the flag win over the server either way', () => {
    const deny = { kind: 'reported', enabled: true, defaultPolicy: 'deny' } as const;
    expect(defaultIntention('allow', deny)).toEqual({
      action: 'allow',
      reason: 'set by --default-intention',
    });
    expect(defaultIntention('deny', { kind: 'reported', enabled: false }).action).toBe('deny');
  });
});

describe('aclStateOf (/v1/agent/self)', () => {
  it("reads Consul's DebugConfig.ACLsEnabled and ACLResolverSettings.ACLDefaultPolicy", () => {
    expect(
      aclStateOf({
        Config: {},
        DebugConfig: {
          ACLsEnabled: true,
          ACLResolverSettings: { ACLsEnabled: true, ACLDefaultPolicy: 'deny' },
        },
      }),
    ).toEqual({ kind: 'reported', enabled: true, defaultPolicy: 'deny' });
    expect(aclStateOf({ DebugConfig: { ACLsEnabled: false } })).toEqual({ kind: 'reported', enabled: false });
  });

  it('takes either enabled flag as enabled, and the pre-1.11 top-level default policy', () => {
    expect(
      aclStateOf({ DebugConfig: { ACLsEnabled: false, ACLResolverSettings: { ACLsEnabled: true } } }),
    ).toMatchObject({ enabled: true });
    expect(aclStateOf({ DebugConfig: { ACLsEnabled: true, ACLDefaultPolicy: 'allow' } })).toEqual({
      kind: 'reported',
      enabled: true,
      defaultPolicy: 'allow',
    });
  });

  it('reports nothing for an answer without the ACL facts', () => {
    expect(aclStateOf({ Config: { Datacenter: 'dc1' } })).toEqual({ kind: 'unreported' });
    expect(aclStateOf('nonsense')).toEqual({ kind: 'unreported' });
    expect(aclStateOf({ DebugConfig: { ACLsEnabled: 'yes' } })).toEqual({ kind: 'unreported' });
  });
});
