// The generated ACL matrix: every route and method of src/acl/enforcement.ts's table (and the
// management-only /v1/acl routes) is called on a real `meshpeer server --acl-enabled` process as each of
// five principals — no token, a garbage token, "anonymous", a token that may write only service "web",
// and one that may write only node "vm-1" — and the outcome is compared with the expected table below.
// A refusal must be a 403 that wrote nothing (the store's index is unchanged). A route added to the
// enforcement table without a row here fails the test: decide who may call it, and add the row.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTE_PERMISSIONS } from '../../src/acl/enforcement.js';
import { api } from '../support/meshpeer-process.js';
import { type AclServer, auth, MGMT, makeToken, put, startAclServer, storeIndex } from './support.js';

type Principal = 'none' | 'garbage' | 'anonymous' | 'service' | 'node';
const PRINCIPALS: Principal[] = ['none', 'garbage', 'anonymous', 'service', 'node'];
/** Routes any valid token (anonymous too) may call. Open routes (PRINCIPALS) do not look at the token. */
const ANY_TOKEN: Principal[] = ['none', 'anonymous', 'service', 'node'];
/** A binding rule that may or may not exist: the rows only ask who gets past the ACL check. */
const RULE_ID = '5b1e3c9a-0d2f-4e6b-8a7c-9f1e2d3c4b5a';

interface Row {
  route: string;
  method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  /** The request made: a concrete path for the route, and a valid body. */
  path: string;
  body?: unknown;
  /** Who gets past the ACL check; everyone else must get 403 and write nothing. */
  allowed: Principal[];
}

const EXPECTED: Row[] = [
  { route: '/metrics', method: 'GET', path: '/metrics', allowed: [] },
  { route: '/v1/status/leader', method: 'GET', path: '/v1/status/leader', allowed: PRINCIPALS },
  { route: '/v1/agent/self', method: 'GET', path: '/v1/agent/self', allowed: [] },
  { route: '/v1/agent/metrics', method: 'GET', path: '/v1/agent/metrics', allowed: [] },
  // Consul API reads and writes added for HashiCorp's consul/api suite (test/consul-api-suite).
  { route: '/v1/status/peers', method: 'GET', path: '/v1/status/peers', allowed: PRINCIPALS },
  {
    route: '/v1/operator/raft/configuration',
    method: 'GET',
    path: '/v1/operator/raft/configuration',
    allowed: [],
  },
  { route: '/v1/catalog/datacenters', method: 'GET', path: '/v1/catalog/datacenters', allowed: PRINCIPALS },
  {
    route: '/v1/agent/connect/ca/roots',
    method: 'GET',
    path: '/v1/agent/connect/ca/roots',
    allowed: ANY_TOKEN,
  },
  { route: '/v1/catalog/node/:node', method: 'GET', path: '/v1/catalog/node/vm-1', allowed: ['node'] },
  {
    route: '/v1/catalog/node-services/:node',
    method: 'GET',
    path: '/v1/catalog/node-services/vm-1',
    allowed: ['node'],
  },
  { route: '/v1/health/node/:node', method: 'GET', path: '/v1/health/node/vm-1', allowed: ['node'] },
  {
    route: '/v1/catalog/connect/:name',
    method: 'GET',
    path: '/v1/catalog/connect/web',
    allowed: ['service'],
  },
  { route: '/v1/agent/service/:id', method: 'GET', path: '/v1/agent/service/web', allowed: ['service'] },
  {
    route: '/v1/agent/health/service/id/:id',
    method: 'GET',
    path: '/v1/agent/health/service/id/web',
    allowed: ['service'],
  },
  {
    route: '/v1/agent/health/service/name/:name',
    method: 'GET',
    path: '/v1/agent/health/service/name/web',
    allowed: ['service'],
  },
  {
    route: '/v1/agent/check/register',
    method: 'PUT',
    path: '/v1/agent/check/register',
    body: { Name: 'web-extra', ServiceID: 'web', TTL: '10s' },
    allowed: ['service'],
  },
  {
    route: '/v1/agent/check/deregister/:id',
    method: 'PUT',
    path: '/v1/agent/check/deregister/web-ttl',
    allowed: ['service'],
  },
  // Open, but the initial management token counts as the bootstrap: refused (403) for everyone after it.
  { route: '/v1/acl/bootstrap', method: 'PUT', path: '/v1/acl/bootstrap', allowed: [] },
  {
    route: '/v1/agent/service/register',
    method: 'PUT',
    path: '/v1/agent/service/register',
    body: { Name: 'web', Port: 8080 },
    allowed: ['service'],
  },
  {
    route: '/v1/agent/service/deregister/:id',
    method: 'PUT',
    path: '/v1/agent/service/deregister/web',
    allowed: ['service'],
  },
  {
    route: '/v1/agent/check/pass/:id',
    method: 'PUT',
    path: '/v1/agent/check/pass/web-ttl',
    allowed: ['service'],
  },
  // A node check of the agent's node: the node token is for vm-1 only.
  { route: '/v1/agent/check/warn/:id', method: 'PUT', path: '/v1/agent/check/warn/agent-alive', allowed: [] },
  {
    route: '/v1/agent/check/fail/:id',
    method: 'PUT',
    path: '/v1/agent/check/fail/web-ttl',
    allowed: ['service'],
  },
  {
    route: '/v1/agent/check/update/:id',
    method: 'PUT',
    path: '/v1/agent/check/update/web-ttl',
    body: { Status: 'passing' },
    allowed: ['service'],
  },
  {
    route: '/v1/catalog/register',
    method: 'PUT',
    path: '/v1/catalog/register',
    body: { Node: 'vm-1', Address: '10.0.0.1', Service: { ID: 'web-vm', Service: 'web', Port: 80 } },
    allowed: ['service'],
  },
  {
    route: '/v1/catalog/deregister',
    method: 'PUT',
    path: '/v1/catalog/deregister',
    body: { Node: 'vm-1', ServiceID: 'web-vm' },
    allowed: ['service', 'node'],
  },
  { route: '/v1/catalog/services', method: 'GET', path: '/v1/catalog/services', allowed: ANY_TOKEN },
  { route: '/v1/catalog/nodes', method: 'GET', path: '/v1/catalog/nodes', allowed: ANY_TOKEN },
  {
    route: '/v1/catalog/service/:name',
    method: 'GET',
    path: '/v1/catalog/service/web',
    allowed: ['service'],
  },
  { route: '/v1/health/service/:name', method: 'GET', path: '/v1/health/service/web', allowed: ['service'] },
  { route: '/v1/health/connect/:name', method: 'GET', path: '/v1/health/connect/web', allowed: ['service'] },
  { route: '/v1/health/checks/:name', method: 'GET', path: '/v1/health/checks/web', allowed: ['service'] },
  {
    route: '/v1/config',
    method: 'PUT',
    path: '/v1/config',
    body: { Kind: 'service-resolver', Name: 'web', ConnectTimeout: '5s' },
    allowed: ['service'],
  },
  { route: '/v1/config/:kind', method: 'GET', path: '/v1/config/service-resolver', allowed: ANY_TOKEN },
  // Mesh-wide settings every sidecar applies: any token may read them, as in Consul.
  {
    route: '/v1/config/:kind/:name',
    method: 'GET',
    path: '/v1/config/proxy-defaults/global',
    allowed: ANY_TOKEN,
  },
  { route: '/v1/config/:kind/:name', method: 'GET', path: '/v1/config/mesh/mesh', allowed: ANY_TOKEN },
  {
    route: '/v1/config/:kind/:name',
    method: 'GET',
    path: '/v1/config/service-resolver/web',
    allowed: ['service'],
  },
  {
    route: '/v1/config/:kind/:name',
    method: 'DELETE',
    path: '/v1/config/service-resolver/web',
    allowed: ['service'],
  },
  { route: '/v1/connect/ca/roots', method: 'GET', path: '/v1/connect/ca/roots', allowed: ANY_TOKEN },
  {
    route: '/v1/agent/connect/ca/leaf/:service',
    method: 'GET',
    path: '/v1/agent/connect/ca/leaf/web',
    allowed: ['service'],
  },
  {
    route: '/v1/peering/token',
    method: 'POST',
    path: '/v1/peering/token',
    body: { PeerName: 'p1' },
    allowed: [],
  },
  {
    route: '/v1/peering/establish',
    method: 'POST',
    path: '/v1/peering/establish',
    body: { PeerName: 'p2', PeeringToken: 'bm90LWEtdG9rZW4=' },
    allowed: [],
  },
  { route: '/v1/peerings', method: 'GET', path: '/v1/peerings', allowed: [] },
  { route: '/v1/peering/:name', method: 'GET', path: '/v1/peering/p1', allowed: [] },
  { route: '/v1/peering/:name', method: 'DELETE', path: '/v1/peering/p1', allowed: [] },
  {
    route: '/v1/internal/meshpeer/peer-servers',
    method: 'GET',
    path: '/v1/internal/meshpeer/peer-servers',
    allowed: [],
  },
  {
    route: '/v1/internal/meshpeer/trust-bundles',
    method: 'GET',
    path: '/v1/internal/meshpeer/trust-bundles',
    allowed: ANY_TOKEN,
  },
  {
    route: '/v1/internal/meshpeer/trust-bundles/:service',
    method: 'GET',
    path: '/v1/internal/meshpeer/trust-bundles/web',
    allowed: ['service'],
  },
  // Any token may list members; each member is shown only with node:read on it.
  { route: '/v1/agent/members', method: 'GET', path: '/v1/agent/members', allowed: ANY_TOKEN },
  // Any token may read itself; without one there is nothing to read (403 from the handler).
  { route: '/v1/acl/token/self', method: 'GET', path: '/v1/acl/token/self', allowed: ['service', 'node'] },
  // Login needs no token: the bearer token is the credential (here the method does not exist: 400).
  {
    route: '/v1/acl/login',
    method: 'POST',
    path: '/v1/acl/login',
    body: { AuthMethod: 'no-such-method', BearerToken: 'x' },
    allowed: PRINCIPALS,
  },
  {
    route: '/v1/acl/login',
    method: 'PUT',
    path: '/v1/acl/login',
    body: { AuthMethod: 'no-such-method', BearerToken: 'x' },
    allowed: PRINCIPALS,
  },
  // Logout deletes the request's own token, and only a token made by login: none of these is one.
  { route: '/v1/acl/logout', method: 'POST', path: '/v1/acl/logout', allowed: [] },
];

/** The /v1/acl routes: acl:read or acl:write, which none of the principals has (only management). */
const MANAGEMENT_ONLY: Row[] = [
  {
    route: '/v1/acl/token/:accessor/clone',
    method: 'PUT',
    path: '/v1/acl/token/00000000-0000-0000-0000-000000000002/clone',
    body: { Description: 'evil' },
    allowed: [],
  },
  {
    route: '/v1/acl/policy',
    method: 'PUT',
    path: '/v1/acl/policy',
    body: { Name: 'evil', Rules: 'operator = "write"' },
    allowed: [],
  },
  { route: '/v1/acl/policies', method: 'GET', path: '/v1/acl/policies', allowed: [] },
  {
    route: '/v1/acl/policy/:id',
    method: 'GET',
    path: `/v1/acl/policy/00000000-0000-0000-0000-000000000001`,
    allowed: [],
  },
  {
    route: '/v1/acl/policy/:id',
    method: 'PUT',
    path: '/v1/acl/policy/00000000-0000-0000-0000-000000000001',
    body: { Name: 'global-management', Rules: '' },
    allowed: [],
  },
  {
    route: '/v1/acl/policy/:id',
    method: 'DELETE',
    path: '/v1/acl/policy/00000000-0000-0000-0000-000000000001',
    allowed: [],
  },
  {
    route: '/v1/acl/token',
    method: 'PUT',
    path: '/v1/acl/token',
    body: { Description: 'evil', Policies: [{ Name: 'global-management' }] },
    allowed: [],
  },
  { route: '/v1/acl/tokens', method: 'GET', path: '/v1/acl/tokens', allowed: [] },
  {
    route: '/v1/acl/token/:accessor',
    method: 'GET',
    path: '/v1/acl/token/00000000-0000-0000-0000-000000000002',
    allowed: [],
  },
  {
    route: '/v1/acl/token/:accessor',
    method: 'PUT',
    path: '/v1/acl/token/00000000-0000-0000-0000-000000000002',
    body: { Description: 'evil', Policies: [{ Name: 'global-management' }] },
    allowed: [],
  },
  {
    route: '/v1/acl/policy/name/:name',
    method: 'GET',
    path: '/v1/acl/policy/name/global-management',
    allowed: [],
  },
  {
    route: '/v1/acl/token/:accessor',
    method: 'DELETE',
    path: '/v1/acl/token/00000000-0000-0000-0000-000000000002',
    allowed: [],
  },
  {
    route: '/v1/acl/auth-method',
    method: 'PUT',
    path: '/v1/acl/auth-method',
    body: {
      Name: 'evil',
      Type: 'kubernetes',
      Config: { Host: 'https://127.0.0.1:6443', ServiceAccountJWT: 'evil' },
    },
    allowed: [],
  },
  { route: '/v1/acl/auth-methods', method: 'GET', path: '/v1/acl/auth-methods', allowed: [] },
  { route: '/v1/acl/auth-method/:name', method: 'GET', path: '/v1/acl/auth-method/k8s', allowed: [] },
  {
    route: '/v1/acl/auth-method/:name',
    method: 'PUT',
    path: '/v1/acl/auth-method/k8s',
    body: {
      Name: 'k8s',
      Type: 'kubernetes',
      Config: { Host: 'https://127.0.0.1:6443', ServiceAccountJWT: 'evil' },
    },
    allowed: [],
  },
  { route: '/v1/acl/auth-method/:name', method: 'DELETE', path: '/v1/acl/auth-method/k8s', allowed: [] },
  {
    route: '/v1/acl/binding-rule',
    method: 'PUT',
    path: '/v1/acl/binding-rule',
    body: { AuthMethod: 'k8s', BindType: 'service', BindName: 'db' },
    allowed: [],
  },
  { route: '/v1/acl/binding-rules', method: 'GET', path: '/v1/acl/binding-rules', allowed: [] },
  {
    route: '/v1/acl/binding-rule/:id',
    method: 'GET',
    path: `/v1/acl/binding-rule/${RULE_ID}`,
    allowed: [],
  },
  {
    route: '/v1/acl/binding-rule/:id',
    method: 'PUT',
    path: `/v1/acl/binding-rule/${RULE_ID}`,
    body: { AuthMethod: 'k8s', BindType: 'service', BindName: 'db' },
    allowed: [],
  },
  {
    route: '/v1/acl/binding-rule/:id',
    method: 'DELETE',
    path: `/v1/acl/binding-rule/${RULE_ID}`,
    allowed: [],
  },
];

let s: AclServer;
let url: string;
const secrets: Partial<Record<Principal, string>> = {
  garbage: 'e3b0c442-98fc-1c14-9afb-f4c8996fb924',
  anonymous: 'anonymous',
};

/** The state every cell starts from (written by management; a no-op when already there). */
async function seed(): Promise<void> {
  await put(url, '/v1/agent/service/register', {
    Name: 'web',
    Port: 8080,
    Check: { CheckID: 'web-ttl', TTL: '30s' },
  });
  await put(url, '/v1/catalog/register', {
    Node: s.agentNode,
    Address: '127.0.0.1',
    SkipNodeUpdate: true,
    Check: { CheckID: 'agent-alive', Name: 'agent alive', Status: 'passing' },
  });
  await put(url, '/v1/catalog/register', {
    Node: 'vm-1',
    Address: '10.0.0.1',
    Service: { ID: 'web-vm', Service: 'web', Port: 80 },
  });
  await put(url, '/v1/config', { Kind: 'service-resolver', Name: 'web', ConnectTimeout: '5s' });
}

beforeAll(async () => {
  s = await startAclServer('dc-matrix');
  url = s.url;
  secrets.service = (await makeToken(url, 'narrow-service', 'service "web" { policy = "write" }')).SecretID;
  secrets.node = (await makeToken(url, 'narrow-node', 'node "vm-1" { policy = "write" }')).SecretID;
  // The auth method the /v1/acl/auth-method rows act on (its Host is never called: nobody logs in).
  await put(url, '/v1/acl/auth-method', {
    Name: 'k8s',
    Type: 'kubernetes',
    Config: { Host: 'https://127.0.0.1:6443', ServiceAccountJWT: 'reviewer' },
  });
  const token = await api(`${url}/v1/peering/token`, {
    method: 'POST',
    headers: auth(MGMT),
    json: { PeerName: 'p1' },
  });
  expect(token.status, token.text).toBe(200);
});

afterAll(async () => {
  await s?.server.stop();
});

describe('the ACL matrix', () => {
  it('has a row for every route and method of the enforcement table', () => {
    const listed = Object.entries(ROUTE_PERMISSIONS).flatMap(([route, methods]) =>
      Object.keys(methods).map((m) => `${m} ${route}`),
    );
    const rows = EXPECTED.map((r) => `${r.method} ${r.route}`);
    expect(
      rows.filter((r) => !listed.includes(r)),
      'rows for routes no longer in the table',
    ).toEqual([]);
    const managementRows = MANAGEMENT_ONLY.map((r) => `${r.method} ${r.route}`);
    expect(
      listed.filter((r) => !rows.includes(r) && !managementRows.includes(r)),
      'routes in src/acl/enforcement.ts without a row in test/security/matrix.test.ts: add one',
    ).toEqual([]);
  });

  for (const row of [...EXPECTED, ...MANAGEMENT_ONLY]) {
    it(`${row.method} ${row.route}: allowed for ${row.allowed.join(', ') || 'no one but management'}`, async () => {
      const outcomes: string[] = [];
      for (const who of PRINCIPALS) {
        await seed();
        const before = await storeIndex(url);
        const secret = secrets[who];
        const res = await api(`${url}${row.path}`, {
          method: row.method,
          headers: secret === undefined ? {} : auth(secret),
          ...(row.body !== undefined ? { body: JSON.stringify(row.body) } : {}),
        });
        const got = res.status === 403 ? 'refused' : 'allowed';
        const want = row.allowed.includes(who) ? 'allowed' : 'refused';
        outcomes.push(`${who}: ${got} (${res.status} ${res.text.slice(0, 120)})`);
        expect(got, `${who}\n${outcomes.join('\n')}`).toBe(want);
        // Any answer but a crash (the agent's health endpoints answer 503 for a critical service, as Consul's).
        expect(res.status, `${who}: ${res.text}`).not.toBe(500);
        if (got === 'refused') {
          expect(
            await storeIndex(url),
            `${who}: a refused ${row.method} ${row.path} wrote to the store`,
          ).toBe(before);
        }
      }
    });
  }

  it('answers a method a listed route does not list with 405 (or 403, or 404), never running it', async () => {
    const others = ['GET', 'PUT', 'POST', 'DELETE', 'PATCH'] as const;
    const before = await storeIndex(url);
    for (const row of EXPECTED) {
      const listed = Object.keys(ROUTE_PERMISSIONS[row.route] ?? {});
      for (const method of others.filter((m) => !listed.includes(m))) {
        const res = await api(`${url}${row.path}`, {
          method,
          headers: auth(secrets.service ?? ''),
          ...(method === 'GET' ? {} : { body: JSON.stringify(row.body ?? {}) }),
        });
        expect([403, 404, 405], `${method} ${row.path}: ${res.status} ${res.text}`).toContain(res.status);
      }
    }
    expect(await storeIndex(url), 'a method a route does not serve wrote to the store').toBe(before);
  }, 180_000);

  it('the management token is allowed on every row', async () => {
    for (const row of [...EXPECTED, ...MANAGEMENT_ONLY].filter((r) => r.method === 'GET')) {
      const res = await api(`${url}${row.path}`, { headers: auth(MGMT) });
      expect(res.status, `${row.path}: ${res.text}`).not.toBe(403);
    }
  });
});
