// Consul's ACL API as HashiCorp's consul/api expects it, against a real `meshpeer server --acl-enabled`
// process: agent rules on /v1/agent/*, the member list, built-in policies, token updates, service
// identities, token list filters, acl:read with hidden secrets, HCL 1 rules, and the bootstrap.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';

const MGMT = '5b7c2d1e-0f3a-4b6c-9d8e-7f6a5b4c3d2e';
const GLOBAL_MANAGEMENT = '00000000-0000-0000-0000-000000000001';
const GLOBAL_READ_ONLY = '00000000-0000-0000-0000-000000000002';
const ANONYMOUS = '00000000-0000-0000-0000-000000000002';

interface Token {
  AccessorID: string;
  SecretID: string;
  Description: string;
  Policies?: Array<{ ID: string; Name: string }>;
  ServiceIdentities?: Array<{ ServiceName: string }>;
  CreateIndex: number;
  ModifyIndex: number;
}

const auth = (token: string) => ({ 'X-Consul-Token': token });

describe("Consul's ACL API (default deny)", () => {
  let server: ServerProcess;
  let url: string;
  let agentNode: string;

  async function policy(name: string, rules: string): Promise<{ ID: string; Name: string }> {
    const res = await api<{ ID: string; Name: string }>(`${url}/v1/acl/policy`, {
      headers: auth(MGMT),
      json: { Name: name, Rules: rules },
    });
    expect(res.status, res.text).toBe(200);
    return res.body;
  }

  async function token(body: Record<string, unknown>): Promise<Token> {
    const res = await api<Token>(`${url}/v1/acl/token`, { headers: auth(MGMT), json: body });
    expect(res.status, res.text).toBe(200);
    return res.body;
  }

  beforeAll(async () => {
    server = await startServerProcess({
      extraArgs: ['--acl-enabled', '--acl-initial-management-token', MGMT],
    });
    url = server.url;
    const self = await api<{ Config: { NodeName: string } }>(`${url}/v1/agent/self`, { headers: auth(MGMT) });
    agentNode = self.body.Config.NodeName;
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('accepts HCL 1 rules with several blocks on one line', async () => {
    const p = await policy(
      'one-line',
      'node_prefix "" { policy = "read" } service_prefix "" { policy = "read" }',
    );
    const read = await api<{ Rules: string }>(`${url}/v1/acl/policy/${p.ID}`, { headers: auth(MGMT) });
    expect(read.body.Rules).toBe('node_prefix "" { policy = "read" } service_prefix "" { policy = "read" }');
  });

  it('needs agent:read on the agent for /v1/agent/self and /v1/agent/metrics', async () => {
    const reader = await token({
      Policies: [{ ID: (await policy('agent-reader', 'agent_prefix "" { policy = "read" }')).ID }],
    });
    const other = await token({
      Policies: [
        {
          ID: (
            await policy(
              'agent-other',
              `agent "not-${agentNode}" { policy = "write" }\nnode_prefix "" { policy = "write" }`,
            )
          ).ID,
        },
      ],
    });
    expect((await api(`${url}/v1/agent/self`, { headers: auth(reader.SecretID) })).status).toBe(200);
    expect((await api(`${url}/v1/agent/metrics`, { headers: auth(reader.SecretID) })).status).toBe(200);
    const denied = await api(`${url}/v1/agent/self`, { headers: auth(other.SecretID) });
    expect(denied.status).toBe(403);
    expect(denied.text).toBe(
      `Permission denied: token with AccessorID '${other.AccessorID}' lacks permission 'agent:read' on ${JSON.stringify(agentNode)}`,
    );
  });

  it('lists this server as the one member, to tokens that may read its node', async () => {
    const all = await api<Array<{ Name: string; Status: number; Tags: Record<string, string> }>>(
      `${url}/v1/agent/members`,
      { headers: auth(MGMT) },
    );
    expect(all.status, all.text).toBe(200);
    expect(all.body).toHaveLength(1);
    expect(all.body[0]).toMatchObject({
      Name: agentNode,
      Status: 1,
      Tags: { role: 'consul', dc: 'dc1', acls: '1' },
    });
    const wan = await api<Array<{ Name: string }>>(`${url}/v1/agent/members?wan=1`, { headers: auth(MGMT) });
    expect(wan.body.map((m) => m.Name)).toEqual([`${agentNode}.dc1`]);
    const filtered = await api<unknown[]>(
      `${url}/v1/agent/members?filter=${encodeURIComponent('Tags["dc"] == "dc2"')}`,
      {
        headers: auth(MGMT),
      },
    );
    expect(filtered.body).toEqual([]);
    // Anonymous may call it, but reads no node.
    const anonymous = await api<unknown[]>(`${url}/v1/agent/members`);
    expect(anonymous.status).toBe(200);
    expect(anonymous.body).toEqual([]);
  });

  it('lists and reads the built-in policies, and refuses to delete them or change their rules', async () => {
    const list = await api<Array<{ ID: string; Name: string }>>(`${url}/v1/acl/policies`, {
      headers: auth(MGMT),
    });
    expect(
      list.body.filter((p) => p.ID === GLOBAL_MANAGEMENT || p.ID === GLOBAL_READ_ONLY).map((p) => p.Name),
    ).toEqual(['global-management', 'builtin/global-read-only']);
    const byName = await api<{ ID: string }>(`${url}/v1/acl/policy/name/builtin%2Fglobal-read-only`, {
      headers: auth(MGMT),
    });
    expect(byName.body.ID).toBe(GLOBAL_READ_ONLY);
    const del = await api(`${url}/v1/acl/policy/${GLOBAL_MANAGEMENT}`, {
      method: 'DELETE',
      headers: auth(MGMT),
    });
    expect(del.status).toBe(400);
    expect(del.text).toContain('Delete operation not permitted on the builtin global-management policy');
    const change = await api(`${url}/v1/acl/policy/${GLOBAL_READ_ONLY}`, {
      headers: auth(MGMT),
      json: { Name: 'builtin/global-read-only', Rules: 'acl = "write"' },
    });
    expect(change.status).toBe(400);
    expect(change.text).toContain(
      'Changing the Rules for the builtin global-read-only policy is not permitted',
    );
  });

  it('updates a token in place and lists the anonymous and initial management tokens', async () => {
    const a = await policy('upd-a', 'service "a" { policy = "write" }');
    const t = await token({ Description: 'before', Policies: [{ ID: a.ID }] });
    const res = await api<Token>(`${url}/v1/acl/token/${t.AccessorID}`, {
      headers: auth(MGMT),
      json: {
        ...t,
        Description: 'after',
        Policies: [...(t.Policies ?? []), { Name: 'upd-a' }, { Name: 'one-line' }],
      },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body.SecretID).toBe(t.SecretID);
    expect(res.body.Description).toBe('after');
    expect(res.body.Policies?.map((p) => p.Name)).toEqual(['upd-a', 'one-line']);
    expect(res.body.CreateIndex).toBe(t.CreateIndex);
    const list = await api<Token[]>(`${url}/v1/acl/tokens`, { headers: auth(MGMT) });
    const ids = list.body.map((x) => x.AccessorID);
    expect(ids).toContain(ANONYMOUS);
    expect(list.body.find((x) => x.SecretID === MGMT)?.Description).toBe('Initial Management Token');
  });

  it('grants a service identity write on its service and sidecar, and filters the token list by it', async () => {
    const t = await token({ Description: 'web-identity', ServiceIdentities: [{ ServiceName: 'web' }] });
    expect(t.ServiceIdentities).toEqual([{ ServiceName: 'web' }]);
    const web = await api(`${url}/v1/agent/service/register`, {
      headers: auth(t.SecretID),
      json: { Name: 'web', Port: 8080, Connect: { SidecarService: {} } },
    });
    expect(web.status, web.text).toBe(200);
    const db = await api(`${url}/v1/agent/service/register`, {
      headers: auth(t.SecretID),
      json: { Name: 'db', Port: 1 },
    });
    expect(db.status).toBe(403);
    expect((await api(`${url}/v1/catalog/service/db`, { headers: auth(t.SecretID) })).status).toBe(200);
    const byService = await api<Token[]>(`${url}/v1/acl/tokens?servicename=web`, { headers: auth(MGMT) });
    expect(byService.body.map((x) => x.Description)).toEqual(['web-identity']);
    const both = await api(`${url}/v1/acl/tokens?servicename=web&policy=${GLOBAL_MANAGEMENT}`, {
      headers: auth(MGMT),
    });
    expect(both.status).toBe(400);
    expect(both.text).toContain('can only filter by one of');
    const bad = await api(`${url}/v1/acl/token`, {
      headers: auth(MGMT),
      json: { ServiceIdentities: [{ ServiceName: 'Not Valid' }] },
    });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('has an invalid name');
  });

  it('lets acl = "read" read tokens with their secrets hidden, but not change ACLs', async () => {
    const reader = await token({ Policies: [{ ID: (await policy('acl-reader', 'acl = "read"')).ID }] });
    const list = await api<Token[]>(`${url}/v1/acl/tokens`, { headers: auth(reader.SecretID) });
    expect(list.status, list.text).toBe(200);
    expect(new Set(list.body.map((x) => x.SecretID))).toEqual(new Set(['<hidden>']));
    const one = await api<Token>(`${url}/v1/acl/token/${reader.AccessorID}`, {
      headers: auth(reader.SecretID),
    });
    expect(one.body.SecretID).toBe('<hidden>');
    const write = await api(`${url}/v1/acl/policy`, {
      headers: auth(reader.SecretID),
      json: { Name: 'evil', Rules: 'acl = "write"' },
    });
    expect(write.status).toBe(403);
    expect(write.text).toContain("lacks permission 'acl:write'");
    const anonymous = await api(`${url}/v1/acl/tokens`);
    expect(anonymous.text).toBe(
      "Permission denied: anonymous token lacks permission 'acl:read'. The anonymous token is used implicitly when a request does not specify a token.",
    );
  });
});

describe('ACLs before the bootstrap', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServerProcess({ extraArgs: ['--acl-enabled'] });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("refuses an unknown token with Consul's not-bootstrapped message, and bootstraps even so", async () => {
    const url = server.url;
    const before = await api(`${url}/v1/acl/tokens`, { headers: auth('root') });
    expect(before.status).toBe(403);
    expect(before.text).toBe(
      'ACL system must be bootstrapped before making any requests that require authorization: ACL not found',
    );
    const boot = await api<Token>(`${url}/v1/acl/bootstrap`, { method: 'PUT', headers: auth('root') });
    expect(boot.status, boot.text).toBe(200);
    const list = await api<Token[]>(`${url}/v1/acl/tokens`, { headers: auth(boot.body.SecretID) });
    expect(list.body.map((t) => t.AccessorID).sort()).toEqual([ANONYMOUS, boot.body.AccessorID].sort());
    expect((await api(`${url}/v1/acl/tokens`, { headers: auth('root') })).text).toBe('ACL not found');
  });
});
