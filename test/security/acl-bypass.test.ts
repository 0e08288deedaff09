// Attacks on the ACL boundary inside a cluster, each against a real `meshpeer server --acl-enabled`
// process: a token that may write only service `web` (or every service, but no mesh) tries to write
// what its policy does not allow by spelling keys twice, by spelling Kind differently, by reusing
// another service's instance ID, through node-level fields and checks, and through a connect-proxy's
// destination. Every attempt is refused and the store's index shows nothing was written. Also: the
// token as a query parameter (and kept out of logs), invalid UTF-8, and Consul-like limits.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from '../server/support.js';
import { api } from '../support/meshpeer-process.js';
import {
  type AclServer,
  auth,
  get,
  MGMT,
  makeToken,
  put,
  startAclServer,
  storeIndex,
  type Token,
} from './support.js';

interface Instance {
  ServiceID: string;
  ServiceName: string;
  ServicePort: number;
  ServiceAddress: string;
  Node: string;
  Address: string;
}

let s: AclServer;
let url: string;
let web: Token;
let allServices: Token;

beforeAll(async () => {
  // Debug logging, so the request log can be searched for a leaked secret.
  s = await startAclServer('dc-attack', [], { MESHPEER_LOG_LEVEL: 'debug' });
  url = s.url;
  web = await makeToken(url, 'web-only', 'service "web" { policy = "write" }');
  allServices = await makeToken(url, 'all-services', 'service_prefix "" { policy = "write" }');
  await put(url, '/v1/agent/service/register', { Name: 'db', ID: 'db', Port: 5432, Address: '10.0.0.5' });
  await put(url, '/v1/catalog/register', {
    Node: 'vm',
    Address: '10.0.0.9',
    Service: { ID: 'db2', Service: 'db', Port: 5433 },
    Check: { CheckID: 'db2-alive', Name: 'alive', Status: 'passing', ServiceID: 'db2' },
  });
});

afterAll(async () => {
  await s?.server.stop();
});

/** Sends a raw body with a token; asserts the status and that the store did not change. */
async function refused(
  method: string,
  path: string,
  body: string | Buffer | undefined,
  token: string,
  status: number,
  message: RegExp,
): Promise<void> {
  const before = await storeIndex(url);
  const res = await request(`${url}${path}`, {
    method,
    ...(body !== undefined ? { body } : {}),
    headers: auth(token),
  });
  expect(res.status, res.text).toBe(status);
  expect(res.text).toMatch(message);
  expect(await storeIndex(url), 'a refused request changed the store').toBe(before);
}

const dbInstances = () => get<Instance[]>(url, '/v1/catalog/service/db');

describe('item 1: a key spelled twice is refused, never read two ways', () => {
  it('agent register with "name" and "Name" is refused with 400 naming both keys; db is untouched', async () => {
    await refused(
      'PUT',
      '/v1/agent/service/register',
      JSON.stringify({ name: 'web', Name: 'db', ID: 'db', Port: 6666, Address: '6.6.6.6' }),
      web.SecretID,
      400,
      /keys "name" and "Name" differ only in case/,
    );
    const db = (await dbInstances()).find((i) => i.ServiceID === 'db');
    expect(db?.ServicePort).toBe(5432);
    expect(db?.ServiceAddress).toBe('10.0.0.5');
  });

  it('catalog register with "service" and "Service" is refused; no db instance is added', async () => {
    const countBefore = (await dbInstances()).length;
    await refused(
      'PUT',
      '/v1/catalog/register',
      JSON.stringify({
        Node: 'vm',
        Address: '10.0.0.9',
        service: { Service: 'web' },
        Service: { Service: 'db', ID: 'db-evil', Port: 6666 },
      }),
      web.SecretID,
      400,
      /keys "service" and "Service" differ only in case/,
    );
    expect((await dbInstances()).length).toBe(countBefore);
  });

  it('catalog deregister with "serviceid" and "ServiceID" is refused; db2 stays', async () => {
    await refused(
      'PUT',
      '/v1/catalog/deregister',
      JSON.stringify({ Node: 'vm', serviceid: 'web', ServiceID: 'db2' }),
      web.SecretID,
      400,
      /keys "serviceid" and "ServiceID"/,
    );
    expect((await dbInstances()).map((i) => i.ServiceID)).toContain('db2');
  });

  it('a nested pair (Service_ID and ServiceID in a check) is refused, naming where', async () => {
    await refused(
      'PUT',
      '/v1/catalog/register',
      JSON.stringify({
        Node: 'vm',
        Address: '10.0.0.9',
        Check: { Name: 'x', Status: 'critical', Service_ID: 'web', ServiceID: 'db2' },
      }),
      web.SecretID,
      400,
      /keys "Service_ID" and "ServiceID" \(at Check\)/,
    );
  });

  it('keys in another spelling are decoded once, and that decoded value is what is authorized', async () => {
    // Lower-case keys are read as Name/ID: the check sees "db", as the handler would write it.
    await refused(
      'PUT',
      '/v1/agent/service/register',
      JSON.stringify({ name: 'db', id: 'db', port: 6666 }),
      web.SecretID,
      403,
      /lacks permission 'service:write' on "db"/,
    );
    const ok = await request(`${url}/v1/agent/service/register`, {
      method: 'PUT',
      body: JSON.stringify({
        name: 'web',
        port: 7001,
        tagged_addresses: { lan: { address: '10.1.1.1', port: 7001 } },
      }),
      headers: auth(web.SecretID),
    });
    expect(ok.status, ok.text).toBe(200);
    const webNow = await get<Instance[]>(url, '/v1/catalog/service/web');
    expect(webNow.map((i) => i.ServicePort)).toEqual([7001]);
  });
});

describe('item 2: the kind checked is the kind written', () => {
  it('K_ind next to Kind is refused; no exported-services entry appears', async () => {
    await refused(
      'PUT',
      '/v1/config',
      JSON.stringify({
        K_ind: 'exported-services',
        Kind: 'service-intentions',
        Name: 'default',
        Services: [{ Name: 'db', Consumers: [{ Peer: 'evil' }] }],
        Sources: [{ Name: 'web', Action: 'allow' }],
      }),
      allServices.SecretID,
      400,
      /keys "K_ind" and "Kind" differ only/,
    );
    expect((await api(`${url}/v1/config/exported-services/default`, { headers: auth(MGMT) })).status).toBe(
      404,
    );
  });

  it('exported-services and proxy-defaults in other spellings of Kind need mesh:write', async () => {
    await refused(
      'PUT',
      '/v1/config',
      JSON.stringify({
        kind: 'exported-services',
        Name: 'default',
        Services: [{ Name: 'db', Consumers: [{ Peer: 'evil' }] }],
      }),
      allServices.SecretID,
      403,
      /lacks permission 'mesh:write'/,
    );
    await refused(
      'PUT',
      '/v1/config',
      JSON.stringify({ KIND: 'proxy-defaults', name: 'global', MeshGateway: { Mode: 'local' } }),
      allServices.SecretID,
      403,
      /lacks permission 'mesh:write'/,
    );
    expect((await api(`${url}/v1/config/proxy-defaults/global`, { headers: auth(MGMT) })).status).toBe(404);
  });
});

describe('item 3: an instance ID that belongs to another service', () => {
  it('agent register {Name: web, ID: db} needs write on db, and db is not replaced', async () => {
    await refused(
      'PUT',
      '/v1/agent/service/register',
      JSON.stringify({ Name: 'web', ID: 'db', Port: 6666 }),
      web.SecretID,
      403,
      /lacks permission 'service:write' on "db"/,
    );
    const db = (await dbInstances()).find((i) => i.ServiceID === 'db');
    expect(db?.ServiceName).toBe('db');
    expect(db?.ServicePort).toBe(5432);
  });

  it('catalog register reusing db2 as a web instance needs write on db', async () => {
    await refused(
      'PUT',
      '/v1/catalog/register',
      JSON.stringify({ Node: 'vm', Address: '10.0.0.9', Service: { ID: 'db2', Service: 'web', Port: 1 } }),
      web.SecretID,
      403,
      /lacks permission 'service:write' on "db"/,
    );
    expect((await dbInstances()).map((i) => i.ServiceID)).toContain('db2');
  });

  it('a connect-proxy for db needs write on db (it would be discovered as db)', async () => {
    await refused(
      'PUT',
      '/v1/agent/service/register',
      JSON.stringify({
        Name: 'web',
        ID: 'web-as-db-proxy',
        Kind: 'connect-proxy',
        Port: 21000,
        Proxy: { DestinationServiceName: 'db' },
      }),
      web.SecretID,
      403,
      /lacks permission 'service:write' on "db"/,
    );
    expect(await get<unknown[]>(url, '/v1/health/connect/db')).toEqual([]);
  });
});

describe('mesh gateways: an address peers are sent to', () => {
  it('registering an instance of Kind mesh-gateway needs mesh:write, even under a name the token may write', async () => {
    await refused(
      'PUT',
      '/v1/agent/service/register',
      JSON.stringify({ Name: 'web', ID: 'web-gw', Kind: 'mesh-gateway', Port: 8443, Address: '6.6.6.6' }),
      web.SecretID,
      403,
      /lacks permission 'mesh:write'/,
    );
    await refused(
      'PUT',
      '/v1/catalog/register',
      JSON.stringify({
        Node: 'vm',
        Address: '10.0.0.9',
        Service: { Service: 'web', Kind: 'mesh-gateway', Port: 8443 },
      }),
      web.SecretID,
      403,
      /lacks permission 'mesh:write'/,
    );
  });
});

describe('item 4: node-level writes need node:write', () => {
  it("changing an existing node's address is refused; every service on it stays where it was", async () => {
    await refused(
      'PUT',
      '/v1/catalog/register',
      JSON.stringify({ Node: 'vm', Address: '6.6.6.6', Service: { Service: 'web', ID: 'web-vm' } }),
      web.SecretID,
      403,
      /lacks permission 'node:write' on "vm"/,
    );
    const vm = (await dbInstances()).find((i) => i.Node === 'vm');
    expect(vm?.Address).toBe('10.0.0.9');
  });

  it('creating a node is refused', async () => {
    await refused(
      'PUT',
      '/v1/catalog/register',
      JSON.stringify({ Node: 'evil-node', Address: '6.6.6.6', Service: { Service: 'web' } }),
      web.SecretID,
      403,
      /lacks permission 'node:write' on "evil-node"/,
    );
    const nodes = await get<Array<{ Node: string }>>(url, '/v1/catalog/nodes');
    expect(nodes.map((n) => n.Node)).not.toContain('evil-node');
  });

  it("a critical check on db's instance needs write on db; db stays passing", async () => {
    await refused(
      'PUT',
      '/v1/catalog/register',
      JSON.stringify({
        Node: 'vm',
        Address: '10.0.0.9',
        Check: { CheckID: 'evil', Name: 'evil', Status: 'critical', ServiceID: 'db2' },
      }),
      web.SecretID,
      403,
      /lacks permission 'service:write' on "db"/,
    );
    const passing = await get<unknown[]>(url, '/v1/health/service/db?passing');
    expect(passing.length).toBe(2);
  });

  it('a node check needs node:write', async () => {
    await refused(
      'PUT',
      '/v1/catalog/register',
      JSON.stringify({ Node: 'vm', Address: '10.0.0.9', Check: { Name: 'node-down', Status: 'critical' } }),
      web.SecretID,
      403,
      /lacks permission 'node:write' on "vm"/,
    );
  });

  it("deregistering db's instance or the node is refused", async () => {
    await refused(
      'PUT',
      '/v1/catalog/deregister',
      JSON.stringify({ Node: 'vm', ServiceID: 'db2' }),
      web.SecretID,
      403,
      /'node:write' on "vm" or 'service:write' on "db"/,
    );
    await refused(
      'PUT',
      '/v1/catalog/deregister',
      JSON.stringify({ Node: 'vm' }),
      web.SecretID,
      403,
      /'node:write'/,
    );
    expect((await dbInstances()).map((i) => i.ServiceID)).toContain('db2');
  });

  it('a web instance on an existing node is allowed when the node is re-posted unchanged (as in Consul)', async () => {
    const ok = await api(`${url}/v1/catalog/register`, {
      headers: auth(web.SecretID),
      json: { Node: 'vm', Address: '10.0.0.9', Service: { Service: 'web', ID: 'web-vm', Port: 80 } },
    });
    expect(ok.status, ok.text).toBe(200);
    // SkipNodeUpdate: the node fields are not written, so no node:write is needed either.
    const skip = await api(`${url}/v1/catalog/register`, {
      headers: auth(web.SecretID),
      json: {
        Node: 'vm',
        Address: '6.6.6.6',
        SkipNodeUpdate: true,
        Service: { Service: 'web', ID: 'web-vm', Port: 81 },
      },
    });
    expect(skip.status, skip.text).toBe(200);
    const vm = (await dbInstances()).find((i) => i.Node === 'vm');
    expect(vm?.Address).toBe('10.0.0.9');
  });
});

describe('item 9: ?token=', () => {
  it('is accepted as the request token, and kept out of the request log', async () => {
    expect((await api(`${url}/v1/catalog/service/web`)).status).toBe(403);
    const withQuery = await api(`${url}/v1/catalog/service/web?token=${web.SecretID}`);
    expect(withQuery.status, withQuery.text).toBe(200);
    const garbage = await api(`${url}/v1/catalog/service/web?token=not-a-token`);
    expect(garbage.status).toBe(403);
    expect(garbage.text).toBe('ACL not found');
    const write = await api(`${url}/v1/agent/service/register?token=${web.SecretID}`, {
      json: { Name: 'web', Port: 7002 },
    });
    expect(write.status, write.text).toBe(200);
    const denied = await api(`${url}/v1/agent/service/register?token=${web.SecretID}`, {
      json: { Name: 'db', Port: 7002 },
    });
    expect(denied.status).toBe(403);
    const logged = s.server.logs.join('\n');
    expect(logged).toContain('token=redacted');
    expect(logged).not.toContain(web.SecretID);
  });
});

describe('item 13: invalid UTF-8', () => {
  it('is refused with 400, in a value and in a key, even for the management token', async () => {
    const bad = Buffer.concat([
      Buffer.from('{"Name":"web'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('","Port":1}'),
    ]);
    await refused('PUT', '/v1/agent/service/register', bad, MGMT, 400, /not valid UTF-8/);
    const badKey = Buffer.concat([Buffer.from('{"Na'), Buffer.from([0xc3]), Buffer.from('me":"web"}')]);
    await refused('PUT', '/v1/agent/service/register', badKey, MGMT, 400, /not valid UTF-8/);
    // An overlong encoding of "/" is not UTF-8 either.
    const overlong = Buffer.concat([
      Buffer.from('{"Kind":"service-resolver","Name":"a'),
      Buffer.from([0xc0, 0xaf]),
      Buffer.from('"}'),
    ]);
    await refused('PUT', '/v1/config', overlong, MGMT, 400, /not valid UTF-8/);
  });
});

describe('item 14: Consul-like limits', () => {
  const long = 'a'.repeat(5000);
  const cases: Array<[string, string, unknown, RegExp]> = [
    [
      '5,000-character service name',
      '/v1/agent/service/register',
      { Name: long },
      /Name: must be at most 256 characters/,
    ],
    [
      '5,000-character node name',
      '/v1/catalog/register',
      { Node: long, Address: '10.0.0.1' },
      /Node: must be at most 256/,
    ],
    [
      '5,000-character instance ID',
      '/v1/agent/service/register',
      { Name: 'web', ID: long },
      /ID: must be at most 256/,
    ],
    [
      '50,000 tags',
      '/v1/agent/service/register',
      { Name: 'web', Tags: Array.from({ length: 50_000 }, (_, i) => `t${i}`) },
      /Tags: must hold at most 256 tags/,
    ],
    [
      'a 5,000-character tag',
      '/v1/agent/service/register',
      { Name: 'web', Tags: [long] },
      /Tags\[0\]: must be at most 256/,
    ],
    [
      '65 Meta keys',
      '/v1/agent/service/register',
      { Name: 'web', Meta: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])) },
      /Meta: has 65 keys; at most 64/,
    ],
    [
      'a TTL past the longest duration',
      '/v1/agent/service/register',
      { Name: 'web', Check: { TTL: '99999999999h' } },
      /Check.TTL: "99999999999h" is longer than the longest duration/,
    ],
    [
      'ConnectTimeout 99999999999h',
      '/v1/config',
      { Kind: 'service-resolver', Name: 'web', ConnectTimeout: '99999999999h' },
      /ConnectTimeout: "99999999999h" is longer than the longest duration/,
    ],
    [
      'negative local_connect_timeout_ms',
      '/v1/config',
      { Kind: 'proxy-defaults', Name: 'global', Config: { local_connect_timeout_ms: -1 } },
      /Config.local_connect_timeout_ms: must be a whole number of milliseconds/,
    ],
    [
      "a negative timeout in a sidecar's Proxy.Config",
      '/v1/agent/service/register',
      {
        Name: 'web-sidecar-proxy',
        Kind: 'connect-proxy',
        Proxy: { DestinationServiceName: 'web', Config: { local_connect_timeout_ms: -5 } },
      },
      /Proxy.Config.local_connect_timeout_ms: must be a whole number of milliseconds/,
    ],
    [
      'a 5,000-character config entry name',
      '/v1/config',
      { Kind: 'service-resolver', Name: long },
      /Name: must be at most 256 characters/,
    ],
  ];
  for (const [what, path, body, message] of cases) {
    it(`refuses ${what} with 400 naming the field`, async () => {
      await refused('PUT', path, JSON.stringify(body), MGMT, 400, message);
    });
  }

  it('keeps accepting values at the limits', async () => {
    const ok = await api(`${url}/v1/agent/service/register`, {
      headers: auth(MGMT),
      json: {
        Name: 'n'.repeat(256),
        Tags: Array.from({ length: 256 }, (_, i) => `t${i}`),
        Check: { TTL: '2562047h' },
      },
    });
    expect(ok.status, ok.text).toBe(200);
  });
});
