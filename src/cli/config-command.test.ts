import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FakeApi, runCli, startFakeApi } from './testing/harness.js';

let api: FakeApi;
let dir: string;
beforeEach(async () => {
  api = await startFakeApi();
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

const exported = {
  Kind: 'exported-services',
  Name: 'default',
  Services: [{ Name: 'backend', Consumers: [{ Peer: 'cluster-02' }] }],
};

describe('meshpeer config write', () => {
  it('PUTs the JSON entry to /v1/config', async () => {
    api.on('PUT', '/v1/config', { body: true });
    const path = await file('exported.json', JSON.stringify(exported));
    const result = await runCli(api, ['config', 'write', path]);
    expect(result).toEqual({
      code: 0,
      stdout: 'Config entry written: exported-services/default\n',
      stderr: '',
    });
    expect(api.requests[0]).toMatchObject({ method: 'PUT', path: '/v1/config', query: {} });
    expect(api.requests[0]?.json).toEqual(exported);
    expect(api.requests[0]?.headers['content-type']).toBe('application/json');
  });

  it('decodes an HCL entry into the same JSON', async () => {
    api.on('PUT', '/v1/config', { body: true });
    const hcl = [
      'Kind = "exported-services"',
      'Name = "default"',
      'Services = [',
      '  { Name = "backend", Consumers = [{ Peer = "cluster-02" }] }',
      ']',
    ].join('\n');
    const result = await runCli(api, ['config', 'write', await file('exported.hcl', hcl)]);
    expect(result).toMatchObject({ code: 0, stdout: 'Config entry written: exported-services/default\n' });
    expect(api.requests[0]?.json).toEqual(exported);
  });

  it('sends ?cas=N with -cas -modify-index N', async () => {
    api.on('PUT', '/v1/config', { body: true });
    const path = await file('exported.json', JSON.stringify(exported));
    const result = await runCli(api, ['config', 'write', '-cas', '-modify-index', '42', path]);
    expect(result.code).toBe(0);
    expect(api.requests[0]?.query).toEqual({ cas: '42' });
  });

  it('fails (exit 1) when the check-and-set write loses', async () => {
    api.on('PUT', '/v1/config', { body: false });
    const path = await file('exported.json', JSON.stringify(exported));
    const result = await runCli(api, ['config', 'write', '-cas', '-modify-index=7', path]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(
      'config entry not updated: exported-services/default is no longer at ModifyIndex 7',
    );
  });

  it('is a usage error (exit 2) to use -cas without -modify-index, or a non-numeric index', async () => {
    const path = await file('exported.json', JSON.stringify(exported));
    const noIndex = await runCli(api, ['config', 'write', '-cas', path]);
    const badIndex = await runCli(api, ['config', 'write', '-cas', '-modify-index', 'x', path]);
    expect(noIndex.code).toBe(2);
    expect(noIndex.stderr).toContain('--cas needs --modify-index N');
    expect(badIndex.code).toBe(2);
    expect(badIndex.stderr).toContain('expected a non-negative integer, got "x"');
    expect(api.requests).toHaveLength(0);
  });

  it("shows the server's 400 explanation verbatim with the status", async () => {
    const body =
      'invalid exported-services config entry: Services[0].Consumers[0]: must set exactly one of Peer, Partition, SamenessGroup';
    api.on('PUT', '/v1/config', { status: 400, text: body });
    const path = await file('exported.json', JSON.stringify(exported));
    const result = await runCli(api, ['config', 'write', path]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `error: writing config entry exported-services/default failed: ${body} (HTTP 400 Bad Request from PUT /v1/config)\n`,
    );
  });

  it('refuses an entry without Kind before calling the server', async () => {
    const path = await file('nokind.json', JSON.stringify({ Name: 'x' }));
    const result = await runCli(api, ['config', 'write', path]);
    expect(result).toMatchObject({
      code: 1,
      stderr: `error: the config entry in ${path} has no Kind: every config entry needs Kind and Name\n`,
    });
    expect(api.requests).toHaveLength(0);
  });
});

describe('meshpeer config read', () => {
  it('GETs /v1/config/:kind/:name and prints the entry as JSON', async () => {
    const entry = { Kind: 'mesh', Name: 'mesh', Peering: { PeerThroughMeshGateways: true }, ModifyIndex: 9 };
    api.on('GET', '/v1/config/mesh/mesh', { body: entry });
    const result = await runCli(api, ['config', 'read', '-kind', 'mesh', '-name', 'mesh']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual(entry);
    expect(api.requests[0]).toMatchObject({ method: 'GET', path: '/v1/config/mesh/mesh' });
  });

  it('accepts --kind/--name as well as the single-dash spelling', async () => {
    api.on('GET', '/v1/config/proxy-defaults/global', { body: { Kind: 'proxy-defaults', Name: 'global' } });
    const result = await runCli(api, ['config', 'read', '--kind', 'proxy-defaults', '--name=global']);
    expect(result.code).toBe(0);
  });

  it('is a usage error (exit 2) without -kind', async () => {
    const result = await runCli(api, ['config', 'read', '-name', 'mesh']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("required option '--kind <kind>' not specified");
  });

  it('surfaces a 404 with the entry it was looking for', async () => {
    api.on('GET', '/v1/config/mesh/mesh', {
      status: 404,
      text: 'Config entry not found for "mesh" / "mesh"',
    });
    const result = await runCli(api, ['config', 'read', '-kind', 'mesh', '-name', 'mesh']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'error: reading config entry mesh/mesh failed: Config entry not found for "mesh" / "mesh" ' +
        '(HTTP 404 Not Found from GET /v1/config/mesh/mesh)\n',
    );
  });
});

describe('meshpeer config list', () => {
  it('GETs /v1/config/:kind and prints the names', async () => {
    api.on('GET', '/v1/config/service-intentions', {
      body: [
        { Kind: 'service-intentions', Name: 'frontend' },
        { Kind: 'service-intentions', Name: 'backend' },
      ],
    });
    const result = await runCli(api, ['config', 'list', '-kind', 'service-intentions']);
    expect(result).toEqual({ code: 0, stdout: 'backend\nfrontend\n', stderr: '' });
  });
});

describe('meshpeer config delete', () => {
  it('DELETEs /v1/config/:kind/:name', async () => {
    api.on('DELETE', '/v1/config/exported-services/default', { body: true });
    const result = await runCli(api, ['config', 'delete', '-kind', 'exported-services', '-name', 'default']);
    expect(result).toEqual({
      code: 0,
      stdout: 'Config entry deleted: exported-services/default\n',
      stderr: '',
    });
    expect(api.requests[0]).toMatchObject({ method: 'DELETE', path: '/v1/config/exported-services/default' });
  });

  it('passes -cas -modify-index and reports a lost race', async () => {
    api.on('DELETE', '/v1/config/mesh/mesh', { body: false });
    const result = await runCli(api, [
      'config',
      'delete',
      '-kind',
      'mesh',
      '-name',
      'mesh',
      '-cas',
      '-modify-index',
      '3',
    ]);
    expect(api.requests[0]?.query).toEqual({ cas: '3' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('config entry not deleted: mesh/mesh is no longer at ModifyIndex 3');
  });
});
