// Auth methods, binding rules, login and logout on an in-memory store, with a stand-in TokenReviewer
// (the real TokenReview over HTTPS is tested against a kube-apiserver in test/acl/kubernetes-login.test.ts).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { AclService } from './acl-service.js';
import type { TokenReviewer, TokenReviewStatus } from './kubernetes-auth.js';

const ROOT = 'c0ffee00-0000-4000-8000-000000000001';
const CONFIG = { Host: 'https://127.0.0.1:6443', CACert: '', ServiceAccountJWT: 'reviewer-jwt' };
/** JWT → what the API server answers. */
const answers = new Map<string, TokenReviewStatus>([
  ['backend-jwt', { authenticated: true, username: 'system:serviceaccount:default:backend', uid: 'u-1' }],
  ['user-jwt', { authenticated: true, username: 'alice' }],
]);
const reviewed: Array<{ host: string; token: string; reviewer: string }> = [];
const reviewer: TokenReviewer = {
  async review(config, token) {
    reviewed.push({ host: config.Host, token, reviewer: config.ServiceAccountJWT });
    return answers.get(token) ?? { authenticated: false, error: 'invalid bearer token' };
  },
};

let store: Store;
let acl: AclService;

beforeEach(async () => {
  reviewed.length = 0;
  store = openStore({ backend: 'memory' });
  acl = new AclService(store, {
    initialManagementToken: ROOT,
    defaultPolicy: 'deny',
    datacenter: 'dc1',
    tokenReviewer: reviewer,
  });
  await acl.authMethods.writeMethod({ Name: 'k8s', Type: 'kubernetes', Config: CONFIG });
  await acl.authMethods.writeRule({
    AuthMethod: 'k8s',
    BindType: 'service',
    BindName: `\${serviceaccount.name}`,
    Selector: 'serviceaccount.namespace==default',
  });
});
afterEach(async () => {
  vi.useRealTimers();
  await store.close();
});

describe('auth methods', () => {
  it('are read with their Config and listed without it', async () => {
    expect(acl.authMethods.readMethod('k8s')).toMatchObject({
      Name: 'k8s',
      Type: 'kubernetes',
      Config: CONFIG,
    });
    const [stub] = acl.authMethods.listMethods();
    expect(stub?.Name).toBe('k8s');
    expect(stub).not.toHaveProperty('Config');
  });

  it('refuses a bad method and leaves the stored one as it was', async () => {
    const m = acl.authMethods;
    await expect(m.writeMethod({ Name: 'k8s', Type: 'kubernetes', Config: CONFIG })).rejects.toThrow(
      'already exists',
    );
    await expect(m.writeMethod({ Name: 'x', Type: 'jwt', Config: CONFIG })).rejects.toThrow(
      'Type should be one of: kubernetes',
    );
    await expect(m.writeMethod({ Name: 'bad name', Type: 'kubernetes', Config: CONFIG })).rejects.toThrow(
      'invalid Name',
    );
    await expect(
      m.writeMethod({ Name: 'x', Type: 'kubernetes', Config: { ...CONFIG, Host: 'http://h:1' } }),
    ).rejects.toThrow('must be an https URL');
    await expect(
      m.writeMethod({ Name: 'x', Type: 'kubernetes', Config: { ...CONFIG, ServiceAccountJWT: '' } }),
    ).rejects.toThrow('ServiceAccountJWT');
    await expect(
      m.writeMethod({ Name: 'x', Type: 'kubernetes', Config: { ...CONFIG, CACert: 'nope' } }),
    ).rejects.toThrow('must be PEM');
    await expect(m.writeMethod({ Name: 'k8s', Type: 'kubernetes', Config: CONFIG }, 'other')).rejects.toThrow(
      'do not match',
    );
    expect(m.listMethods().map((x) => x.Name)).toEqual(['k8s']);
  });

  it('takes a host:port Host as https', async () => {
    const view = await acl.authMethods.writeMethod({
      Name: 'hp',
      Type: 'kubernetes',
      Config: { ...CONFIG, Host: '127.0.0.1:6443' },
    });
    expect(view.Config?.Host).toBe('https://127.0.0.1:6443');
  });
});

describe('binding rules', () => {
  it('need an existing method and keep it', async () => {
    await expect(
      acl.authMethods.writeRule({ AuthMethod: 'nope', BindType: 'service', BindName: 'x' }),
    ).rejects.toThrow('unknown auth method "nope"');
    const [rule] = acl.authMethods.listRules('k8s');
    expect(rule?.BindName).toBe(`\${serviceaccount.name}`);
    expect(acl.authMethods.listRules('other')).toEqual([]);
    const updated = await acl.authMethods.writeRule(
      { AuthMethod: 'k8s', BindType: 'service', BindName: 'fixed' },
      rule?.ID,
    );
    expect(updated).toMatchObject({ ID: rule?.ID, BindName: 'fixed', Selector: '' });
  });
});

describe('login and logout', () => {
  it('gives a token with the bound service identity, marked with the method', async () => {
    const token = await acl.login({
      AuthMethod: 'k8s',
      BearerToken: 'backend-jwt',
      Meta: { pod: 'default/b-1' },
    });
    expect(token.ServiceIdentities).toEqual([{ ServiceName: 'backend' }]);
    expect(token.AuthMethod).toBe('k8s');
    expect(token.Description).toBe('token created via login: {"pod":"default/b-1"}');
    expect(reviewed).toEqual([{ host: CONFIG.Host, token: 'backend-jwt', reviewer: 'reviewer-jwt' }]);
    const identity = acl.resolve(token.SecretID);
    expect(identity.authorizer.allowed('service', 'write', 'backend')).toBe(true);
    expect(identity.authorizer.allowed('service', 'write', 'db')).toBe(false);
    expect(acl.listTokens({ authMethod: 'k8s' }).map((t) => t.AccessorID)).toEqual([token.AccessorID]);
    expect(acl.listTokens({ authMethod: 'other' })).toEqual([]);
  });

  it('refuses a token the API server rejects, one not of a service account, and one no rule matches', async () => {
    const before = acl.listTokens().length;
    await expect(acl.login({ AuthMethod: 'k8s', BearerToken: 'forged' })).rejects.toThrow(
      'the Kubernetes API server rejected the bearer token (invalid bearer token)',
    );
    await expect(acl.login({ AuthMethod: 'k8s', BearerToken: 'user-jwt' })).rejects.toThrow(
      'not to a service account',
    );
    answers.set('other-ns-jwt', {
      authenticated: true,
      username: 'system:serviceaccount:kube-system:backend',
    });
    await expect(acl.login({ AuthMethod: 'k8s', BearerToken: 'other-ns-jwt' })).rejects.toThrow(
      'no binding rule that matches service account kube-system/backend',
    );
    await expect(acl.login({ AuthMethod: 'nope', BearerToken: 'backend-jwt' })).rejects.toThrow(
      'auth method "nope" not found',
    );
    await expect(acl.login({ AuthMethod: 'k8s', BearerToken: '' })).rejects.toThrow(
      'BearerToken is required',
    );
    expect(acl.listTokens().length).toBe(before);
  });

  it('logout deletes the login token; other tokens cannot log out', async () => {
    const token = await acl.login({ AuthMethod: 'k8s', BearerToken: 'backend-jwt' });
    const plain = await acl.createToken({ Description: 'plain' });
    await expect(acl.logout(plain.SecretID)).rejects.toThrow('only a token created by login can log out');
    await expect(acl.logout(undefined)).rejects.toThrow('ACL not found');
    await acl.logout(token.SecretID);
    expect(() => acl.resolve(token.SecretID)).toThrow('ACL not found');
    await expect(acl.logout(token.SecretID)).rejects.toThrow('ACL not found');
    expect(acl.readToken(plain.AccessorID).Description).toBe('plain');
  });

  it('an update keeps the AuthMethod; deleting the method deletes its rules and login tokens', async () => {
    const token = await acl.login({ AuthMethod: 'k8s', BearerToken: 'backend-jwt' });
    await acl.updateToken(token.AccessorID, {
      Description: 'renamed',
      ServiceIdentities: [{ ServiceName: 'backend' }],
    });
    expect(acl.readToken(token.AccessorID).AuthMethod).toBe('k8s');
    await acl.authMethods.deleteMethod('k8s');
    expect(acl.authMethods.listRules()).toEqual([]);
    expect(() => acl.readToken(token.AccessorID)).toThrow('not found');
    expect(() => acl.resolve(token.SecretID)).toThrow('ACL not found');
    await expect(acl.authMethods.deleteMethod('k8s')).rejects.toThrow('not found');
  });
});

describe('MaxTokenTTL', () => {
  it('is kept as a Go duration, within 1m and 24h', async () => {
    const m = acl.authMethods;
    const method = (MaxTokenTTL: unknown) => ({
      Name: 'ttl',
      Type: 'kubernetes',
      MaxTokenTTL,
      Config: CONFIG,
    });
    expect((await m.writeMethod(method('260s'))).MaxTokenTTL).toBe('4m20s');
    expect((await m.writeMethod(method(3_600_000_000_000), 'ttl')).MaxTokenTTL).toBe('1h0m0s');
    expect(await m.writeMethod(method('0s'), 'ttl')).not.toHaveProperty('MaxTokenTTL');
    await expect(m.writeMethod(method('30s'), 'ttl')).rejects.toThrow(
      'MaxTokenTTL 30s cannot be less than 1m0s',
    );
    await expect(m.writeMethod(method('25h'), 'ttl')).rejects.toThrow('cannot be more than 24h0m0s');
    await expect(m.writeMethod(method('soon'), 'ttl')).rejects.toThrow('"soon" is not a duration');
    expect(m.readMethod('ttl')).not.toHaveProperty('MaxTokenTTL');
  });

  it('makes login tokens expire: then they resolve, read and list as gone, and the next login removes them', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = new Date('2030-01-01T00:00:00Z');
    vi.setSystemTime(start);
    await acl.authMethods.writeMethod(
      { Name: 'k8s', Type: 'kubernetes', MaxTokenTTL: '10m', Config: CONFIG },
      'k8s',
    );
    const token = await acl.login({ AuthMethod: 'k8s', BearerToken: 'backend-jwt' });
    expect(token.ExpirationTime).toBe('2030-01-01T00:10:00.000Z');
    expect(acl.resolve(token.SecretID).accessorId).toBe(token.AccessorID);

    vi.setSystemTime(new Date('2030-01-01T00:10:01Z'));
    expect(() => acl.resolve(token.SecretID)).toThrow('ACL not found');
    expect(() => acl.readToken(token.AccessorID)).toThrow('not found');
    expect(acl.listTokens({ authMethod: 'k8s' })).toEqual([]);
    await expect(acl.logout(token.SecretID)).rejects.toThrow('ACL not found');
    expect(store.get('acl/tokens', token.AccessorID)).toBeDefined();
    await acl.login({ AuthMethod: 'k8s', BearerToken: 'backend-jwt' });
    expect(store.get('acl/tokens', token.AccessorID)).toBeUndefined();
  });
});
