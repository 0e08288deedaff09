// ACLs against a real `meshpeer server --acl-enabled` process: anonymous requests refused naming the
// permission, the management token allowed everything, service/peering/mesh rules enforced, list reads
// filtered, invalid rules refused, and policies and tokens kept across a restart.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';

const MGMT = 'b9b1c3a4-5d0e-4f7a-8a61-3c2b1d0e9f8a';
const aclArgs = ['--acl-enabled', '--acl-initial-management-token', MGMT];

interface Token {
  AccessorID: string;
  SecretID: string;
  Policies: Array<{ ID: string; Name: string }>;
}

const auth = (token: string) => ({ 'X-Consul-Token': token });

async function makeToken(url: string, name: string, rules: string): Promise<Token> {
  const policy = await api<{ ID: string }>(`${url}/v1/acl/policy`, {
    headers: auth(MGMT),
    json: { Name: name, Rules: rules },
  });
  expect(policy.status, policy.text).toBe(200);
  const token = await api<Token>(`${url}/v1/acl/token`, {
    headers: auth(MGMT),
    json: { Description: name, Policies: [{ ID: policy.body.ID }] },
  });
  expect(token.status, token.text).toBe(200);
  return token.body;
}

describe('ACLs (default deny)', () => {
  let server: ServerProcess;
  let url: string;
  let webToken: Token;
  let peeringToken: Token;
  let meshToken: Token;

  beforeAll(async () => {
    server = await startServerProcess({ extraArgs: aclArgs });
    url = server.url;
    webToken = await makeToken(url, 'web-writer', 'service "web" { policy = "write" }');
    peeringToken = await makeToken(url, 'peering-writer', 'peering = "write"');
    meshToken = await makeToken(
      url,
      'mesh-writer',
      '{"mesh": "write", "service_prefix": {"": {"policy": "read"}}}',
    );
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('refuses anonymous requests with 403 naming the permission', async () => {
    const read = await api(`${url}/v1/catalog/service/web`);
    expect(read.status).toBe(403);
    expect(read.text).toBe(
      `Permission denied: anonymous token lacks permission 'service:read' on "web". The anonymous token is used implicitly when a request does not specify a token.`,
    );
    const register = await api(`${url}/v1/agent/service/register`, { json: { Name: 'web', Port: 80 } });
    expect(register.status).toBe(403);
    expect(register.text).toContain('\'service:write\' on "web"');
    const peerings = await api(`${url}/v1/peerings`);
    expect(peerings.status).toBe(403);
    expect(peerings.text).toContain("'peering:read'");
    expect((await api(`${url}/v1/acl/policies`)).status).toBe(403);
  });

  it('refuses an unknown token with "ACL not found"', async () => {
    const res = await api(`${url}/v1/catalog/services`, { headers: auth('no-such-secret') });
    expect(res.status).toBe(403);
    expect(res.text).toBe('ACL not found');
  });

  it('allows the management token everything, by header or bearer', async () => {
    const reg = await api(`${url}/v1/agent/service/register`, {
      headers: auth(MGMT),
      json: { Name: 'db', Port: 5432 },
    });
    expect(reg.status, reg.text).toBe(200);
    const read = await api<unknown[]>(`${url}/v1/catalog/service/db`, {
      headers: { Authorization: `Bearer ${MGMT}` },
    });
    expect(read.status).toBe(200);
    expect(read.body).toHaveLength(1);
    const self = await api<Token>(`${url}/v1/acl/token/self`, { headers: auth(MGMT) });
    expect(self.status).toBe(200);
    expect(self.body.Policies[0]?.Name).toBe('global-management');
    expect((await api(`${url}/v1/status/leader`)).status).toBe(200);
  });

  it('lets a service "web" write token register web but not db, and filters reads', async () => {
    const t = auth(webToken.SecretID);
    const web = await api(`${url}/v1/agent/service/register`, {
      headers: t,
      json: { Name: 'web', ID: 'web-1', Port: 8080 },
    });
    expect(web.status, web.text).toBe(200);
    const db = await api(`${url}/v1/agent/service/register`, { headers: t, json: { Name: 'db', Port: 1 } });
    expect(db.status).toBe(403);
    expect(db.text).toBe(
      `Permission denied: token with AccessorID '${webToken.AccessorID}' lacks permission 'service:write' on "db"`,
    );

    expect((await api(`${url}/v1/health/service/web`, { headers: t })).status).toBe(200);
    expect((await api(`${url}/v1/catalog/service/db`, { headers: t })).status).toBe(403);
    const services = await api<Record<string, string[]>>(`${url}/v1/catalog/services`, { headers: t });
    expect(services.status).toBe(200);
    expect(Object.keys(services.body)).toEqual(['web']);
    const all = await api<Record<string, string[]>>(`${url}/v1/catalog/services`, { headers: auth(MGMT) });
    // The server's own `consul` service is there too, as in Consul.
    expect(Object.keys(all.body).sort()).toEqual(['consul', 'db', 'web']);

    // Deregistering by ID finds the service's name: web-1 is web's.
    const dereg = await api(`${url}/v1/agent/service/deregister/web-1`, { method: 'PUT', headers: t });
    expect(dereg.status, dereg.text).toBe(200);

    expect((await api(`${url}/v1/connect/ca/roots`, { headers: t })).status).toBe(200);
    expect((await api(`${url}/v1/agent/connect/ca/leaf/web`, { headers: t })).status).toBe(200);
    expect((await api(`${url}/v1/agent/connect/ca/leaf/db`, { headers: t })).status).toBe(403);
    const self = await api<Token>(`${url}/v1/acl/token/self`, { headers: t });
    expect(self.body.AccessorID).toBe(webToken.AccessorID);
    expect(self.body.Policies.map((p) => p.Name)).toEqual(['web-writer']);
    const acl = await api(`${url}/v1/acl/policies`, { headers: t });
    expect(acl.status).toBe(403);
    expect(acl.text).toContain("'acl:read'");
  });

  it('needs peering:write for the peering endpoints', async () => {
    const body = { PeerName: 'cluster-02' };
    const denied = await api(`${url}/v1/peering/token`, {
      method: 'POST',
      headers: auth(webToken.SecretID),
      json: body,
    });
    expect(denied.status).toBe(403);
    expect(denied.text).toContain("lacks permission 'peering:write'");
    const ok = await api<{ PeeringToken: string }>(`${url}/v1/peering/token`, {
      method: 'POST',
      headers: auth(peeringToken.SecretID),
      json: body,
    });
    expect(ok.status, ok.text).toBe(200);
    expect(typeof ok.body.PeeringToken).toBe('string');
    expect((await api(`${url}/v1/peerings`, { headers: auth(peeringToken.SecretID) })).status).toBe(200);
    expect((await api(`${url}/v1/peerings`, { headers: auth(webToken.SecretID) })).status).toBe(403);
  });

  it('needs mesh:write for mesh-wide config entries and service:write for per-service ones', async () => {
    const mesh = { Kind: 'mesh', Name: 'mesh', Peering: { PeerThroughMeshGateways: true } };
    const denied = await api(`${url}/v1/config`, { headers: auth(webToken.SecretID), json: mesh });
    expect(denied.status).toBe(403);
    expect(denied.text).toContain("lacks permission 'mesh:write'");
    const ok = await api(`${url}/v1/config`, { headers: auth(meshToken.SecretID), json: mesh });
    expect(ok.status, ok.text).toBe(200);

    const resolver = (name: string) => ({ Kind: 'service-resolver', Name: name, ConnectTimeout: '5s' });
    expect(
      (await api(`${url}/v1/config`, { headers: auth(webToken.SecretID), json: resolver('web') })).status,
    ).toBe(200);
    const other = await api(`${url}/v1/config`, { headers: auth(webToken.SecretID), json: resolver('db') });
    expect(other.status).toBe(403);
    expect(other.text).toContain('\'service:write\' on "db"');

    // The list shows only entries the token may read.
    const list = await api<Array<{ Name: string }>>(`${url}/v1/config/service-resolver`, {
      headers: auth(webToken.SecretID),
    });
    expect(list.body.map((e) => e.Name)).toEqual(['web']);
    // Mesh-wide settings every sidecar applies may be read by any token, as in Consul; which services
    // are exported to which peers needs mesh:read.
    const meshRead = await api(`${url}/v1/config/mesh/mesh`, { headers: auth(webToken.SecretID) });
    expect(meshRead.status, meshRead.text).toBe(200);
    const exportsRead = await api(`${url}/v1/config/exported-services/default`, {
      headers: auth(webToken.SecretID),
    });
    expect(exportsRead.status).toBe(403);
    expect(exportsRead.text).toContain("lacks permission 'mesh:read'");
  });

  it('refuses invalid rules with 400 naming the problem', async () => {
    const bad = async (Rules: string) =>
      api(`${url}/v1/acl/policy`, {
        headers: auth(MGMT),
        json: { Name: `bad-${Math.random()}`.replace('.', ''), Rules },
      });
    const level = await bad('service "web" { policy = "admin" }');
    expect(level.status).toBe(400);
    expect(level.text).toContain('service "web": policy must be "read", "write" or "deny"');
    const unknown = await bad('keyrings = "write"');
    expect(unknown.status).toBe(400);
    expect(unknown.text).toContain('unknown rule "keyrings"');
    const syntax = await bad('service "web" { policy = ');
    expect(syntax.status).toBe(400);
    expect(syntax.text).toContain('failed to parse HCL');
    const json = await bad('{"peering": 3}');
    expect(json.status).toBe(400);
    expect(json.text).toContain('peering');
  });

  it('deletes tokens and policies', async () => {
    const t = await makeToken(url, 'short-lived', 'operator = "read"');
    expect((await api(`${url}/metrics`, { headers: auth(t.SecretID) })).status).toBe(200);
    const del = await api(`${url}/v1/acl/token/${t.AccessorID}`, { method: 'DELETE', headers: auth(MGMT) });
    expect(del.status).toBe(200);
    expect((await api(`${url}/metrics`, { headers: auth(t.SecretID) })).text).toBe('ACL not found');
    const policies = await api<Array<{ ID: string; Name: string }>>(`${url}/v1/acl/policies`, {
      headers: auth(MGMT),
    });
    const p = policies.body.find((x) => x.Name === 'short-lived');
    expect(p).toBeDefined();
    const delPolicy = await api(`${url}/v1/acl/policy/${p?.ID}`, { method: 'DELETE', headers: auth(MGMT) });
    expect(delPolicy.status).toBe(200);
  });
});

describe('ACLs (default allow)', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServerProcess({ extraArgs: [...aclArgs, '--acl-default-policy', 'allow'] });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('allows what no rule denies, and denies what a rule denies', async () => {
    expect((await api(`${server.url}/v1/catalog/services`)).status).toBe(200);
    const t = await makeToken(server.url, 'no-db', 'service "db" { policy = "deny" }');
    const db = await api(`${server.url}/v1/catalog/service/db`, { headers: auth(t.SecretID) });
    expect(db.status).toBe(403);
    expect((await api(`${server.url}/v1/catalog/service/web`, { headers: auth(t.SecretID) })).status).toBe(
      200,
    );
  });
});

describe('ACL state across a restart', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshpeer-acl-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps policies and tokens', async () => {
    const first = await startServerProcess({ dataDir: dir, extraArgs: aclArgs });
    let token: Token;
    try {
      token = await makeToken(first.url, 'web-durable', 'service "web" { policy = "write" }');
    } finally {
      await first.stop();
    }
    const second = await startServerProcess({ dataDir: dir, extraArgs: aclArgs });
    try {
      const self = await api<Token>(`${second.url}/v1/acl/token/self`, { headers: auth(token.SecretID) });
      expect(self.status, self.text).toBe(200);
      expect(self.body.AccessorID).toBe(token.AccessorID);
      const reg = await api(`${second.url}/v1/agent/service/register`, {
        headers: auth(token.SecretID),
        json: { Name: 'web', Port: 80 },
      });
      expect(reg.status, reg.text).toBe(200);
      const denied = await api(`${second.url}/v1/agent/service/register`, {
        headers: auth(token.SecretID),
        json: { Name: 'db', Port: 80 },
      });
      expect(denied.status).toBe(403);
    } finally {
      await second.stop();
    }
  });
});
