import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalizeService } from './service-shape.js';
import { type FakeApi, runCli, startFakeApi } from './testing/harness.js';

let api: FakeApi;
let dir: string;
beforeEach(async () => {
  api = await startFakeApi();
  api.on('PUT', '/v1/agent/service/register', { body: null });
  api.on('PUT', '/v1/agent/service/deregister/web-1', { body: null });
  api.on('PUT', '/v1/agent/service/deregister/web', { body: null });
  dir = await mkdtemp(join(tmpdir(), 'meshpeer-cli-'));
});
afterEach(async () => {
  await api.close();
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, content: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

describe('meshpeer services register', () => {
  it('PUTs a {"Service": {...}} JSON definition to the agent API', async () => {
    const path = await file(
      'web.json',
      JSON.stringify({ Service: { Name: 'web', Port: 8080, Tags: ['v1'] } }),
    );
    const result = await runCli(api, ['services', 'register', path]);
    expect(result).toEqual({ code: 0, stdout: 'Registered service: web\n', stderr: '' });
    expect(api.requests).toHaveLength(1);
    expect(api.requests[0]).toMatchObject({ method: 'PUT', path: '/v1/agent/service/register' });
    expect(api.requests[0]?.json).toEqual({ Name: 'web', Port: 8080, Tags: ['v1'] });
  });

  it('accepts a bare service object and a {"Services": [...]} list', async () => {
    const bare = await file('bare.json', JSON.stringify({ Name: 'api', Port: 9090 }));
    const many = await file('many.json', JSON.stringify({ Services: [{ Name: 'a' }, { Name: 'b' }] }));
    expect((await runCli(api, ['services', 'register', bare])).stdout).toBe('Registered service: api\n');
    expect((await runCli(api, ['services', 'register', many])).stdout).toBe(
      'Registered service: a\nRegistered service: b\n',
    );
    expect(api.requests.map((r) => r.json)).toEqual([
      { Name: 'api', Port: 9090 },
      { Name: 'a' },
      { Name: 'b' },
    ]);
  });

  it('reads an HCL service block and sends it in the API JSON shape', async () => {
    const path = await file(
      'web.hcl',
      [
        'service {',
        '  name = "web"',
        '  id   = "web-1"',
        '  port = 8080',
        '  meta = { team_name = "payments" }',
        '  check {',
        '    http     = "http://localhost:8080/health"',
        '    interval = "10s"',
        '  }',
        '  connect {',
        '    sidecar_service {}',
        '  }',
        '}',
      ].join('\n'),
    );
    const result = await runCli(api, ['services', 'register', path]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(api.requests[0]?.json).toEqual({
      Name: 'web',
      ID: 'web-1',
      Port: 8080,
      Meta: { team_name: 'payments' },
      Check: { HTTP: 'http://localhost:8080/health', Interval: '10s' },
      Connect: { SidecarService: {} },
    });
  });

  it('reads the definition from stdin when FILE is -', async () => {
    const result = await runCli(api, ['services', 'register', '-'], { stdin: '{"Name": "web"}' });
    expect(result.stdout).toBe('Registered service: web\n');
  });

  it('refuses a definition without a Name before calling the server', async () => {
    const path = await file('noname.json', JSON.stringify({ Service: { Port: 80 } }));
    const result = await runCli(api, ['services', 'register', path]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `error: a service in ${path} has no Name: every service definition needs one\n`,
    );
    expect(api.requests).toHaveLength(0);
  });

  it('points at the line and column of invalid JSON', async () => {
    const path = await file('bad.json', '{\n  "Name": "web",\n}');
    const result = await runCli(api, ['services', 'register', path]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`^error: ${path}:3:1: invalid JSON`));
  });

  it('names a missing file', async () => {
    const result = await runCli(api, ['services', 'register', join(dir, 'missing.json')]);
    expect(result).toMatchObject({
      code: 1,
      stderr: `error: cannot read ${join(dir, 'missing.json')}: no such file\n`,
    });
  });
});

describe('meshpeer services deregister', () => {
  it('deregisters by -id', async () => {
    const result = await runCli(api, ['services', 'deregister', '-id', 'web']);
    expect(result).toEqual({ code: 0, stdout: 'Deregistered service: web\n', stderr: '' });
    expect(api.requests[0]).toMatchObject({ method: 'PUT', path: '/v1/agent/service/deregister/web' });
  });

  it('deregisters by the ID in the definition file, falling back to its Name', async () => {
    const withId = await file('a.json', JSON.stringify({ Service: { Name: 'web', ID: 'web-1' } }));
    const withoutId = await file('b.json', JSON.stringify({ Service: { Name: 'web' } }));
    await runCli(api, ['services', 'deregister', withId]);
    await runCli(api, ['services', 'deregister', withoutId]);
    expect(api.requests.map((r) => r.path)).toEqual([
      '/v1/agent/service/deregister/web-1',
      '/v1/agent/service/deregister/web',
    ]);
  });

  it('is a usage error (exit 2) to give neither or both of FILE and -id', async () => {
    const path = await file('a.json', JSON.stringify({ Name: 'web' }));
    const neither = await runCli(api, ['services', 'deregister']);
    const both = await runCli(api, ['services', 'deregister', path, '-id', 'web']);
    expect(neither).toMatchObject({
      code: 2,
      stderr: 'error: give the service definition FILE or --id ID to deregister\n',
    });
    expect(both).toMatchObject({ code: 2, stderr: 'error: give either a FILE or --id, not both\n' });
    expect(api.requests).toHaveLength(0);
  });

  it('surfaces the server refusing, with the service it was about', async () => {
    api.on('PUT', '/v1/agent/service/deregister/nope', { status: 404, text: 'Unknown service ID "nope"' });
    const result = await runCli(api, ['services', 'deregister', '-id', 'nope']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'error: deregistering service "nope" failed: Unknown service ID "nope" ' +
        '(HTTP 404 Not Found from PUT /v1/agent/service/deregister/nope)\n',
    );
  });
});

describe('canonicalizeService', () => {
  it('renames snake_case keys with Consul acronyms and keeps user map keys', () => {
    expect(
      canonicalizeService({
        name: 'web',
        enable_tag_override: true,
        tagged_addresses: { lan_ipv4: [{ address: '10.0.0.1', port: 80 }] },
        checks: [{ check_id: 'c1', tcp: 'localhost:80', tls_skip_verify: true, ttl: '5s' }],
        proxy: [
          {
            destination_service_id: 'web-1',
            config: [{ some_opaque_key: 1 }],
            upstreams: [{ destination_peer: 'p' }],
          },
        ],
        Port: 80,
      }),
    ).toEqual({
      Name: 'web',
      EnableTagOverride: true,
      TaggedAddresses: { lan_ipv4: { Address: '10.0.0.1', Port: 80 } },
      Checks: [{ CheckID: 'c1', TCP: 'localhost:80', TLSSkipVerify: true, TTL: '5s' }],
      Proxy: {
        DestinationServiceID: 'web-1',
        Config: { some_opaque_key: 1 },
        Upstreams: [{ DestinationPeer: 'p' }],
      },
      Port: 80,
    });
  });
});
