import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FakeApi, runCli, startFakeApi } from './testing/harness.js';

let api: FakeApi;
beforeEach(async () => {
  api = await startFakeApi();
});
afterEach(async () => {
  await api.close();
});

describe('meshpeer catalog services', () => {
  it('prints the service names sorted, one per line', async () => {
    api.on('GET', '/v1/catalog/services', { body: { web: ['v1'], consul: [], backend: null } });
    const result = await runCli(api, ['catalog', 'services']);
    expect(result).toEqual({ code: 0, stdout: 'backend\nconsul\nweb\n', stderr: '' });
    expect(api.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /v1/catalog/services']);
  });

  it('shows tags comma-separated beside each name with --tags', async () => {
    api.on('GET', '/v1/catalog/services', {
      body: { redis: ['primary', 'v1'], postgresql: ['leader'], consul: [] },
    });
    const result = await runCli(api, ['catalog', 'services', '-tags']);
    expect(result.stdout).toBe('consul\npostgresql  leader\nredis       primary,v1\n');
  });

  it('asks for the services imported from a peer with -peer', async () => {
    api.on('GET', '/v1/catalog/services', { body: { backend: [] } });
    const result = await runCli(api, ['catalog', 'services', '-peer', 'cluster-01']);
    expect(result.code).toBe(0);
    expect(api.requests[0]?.query).toEqual({ peer: 'cluster-01' });
  });

  it('says on stderr, not stdout, that a peer has no imported services', async () => {
    api.on('GET', '/v1/catalog/services', { body: {} });
    const result = await runCli(api, ['catalog', 'services', '--peer', 'cluster-01']);
    expect(result).toEqual({ code: 0, stdout: '', stderr: 'no services imported from peer "cluster-01"\n' });
  });

  it('prints the raw answer with --json', async () => {
    api.on('GET', '/v1/catalog/services', { body: { web: ['v1'] } });
    const result = await runCli(api, ['catalog', 'services', '--json']);
    expect(JSON.parse(result.stdout)).toEqual({ web: ['v1'] });
  });
});

describe('meshpeer catalog nodes', () => {
  it('prints a table of node, short ID, address and datacenter', async () => {
    api.on('GET', '/v1/catalog/nodes', {
      body: [
        { ID: '1b662d97-aaaa-bbbb', Node: 'worker-02', Address: '10.4.4.158', Datacenter: 'dc1' },
        { ID: 'd407a592-cccc-dddd', Node: 'worker-01', Address: '10.4.5.31', Datacenter: 'dc1' },
      ],
    });
    const result = await runCli(api, ['catalog', 'nodes']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      'Node       ID        Address     DC\n' +
        'worker-01  d407a592  10.4.5.31   dc1\n' +
        'worker-02  1b662d97  10.4.4.158  dc1\n',
    );
    expect(api.requests[0]).toMatchObject({ method: 'GET', path: '/v1/catalog/nodes' });
  });
});

describe('server address and token', () => {
  it('accepts host:port without a scheme from --http-addr, overriding MESHPEER_HTTP_ADDR', async () => {
    api.on('GET', '/v1/catalog/services', { body: { web: [] } });
    const result = await runCli(undefined, ['catalog', 'services', '-http-addr', api.hostPort], {
      env: { MESHPEER_HTTP_ADDR: 'http://127.0.0.1:1' },
    });
    expect(result).toMatchObject({ code: 0, stdout: 'web\n' });
  });

  it('accepts host:port without a scheme from MESHPEER_HTTP_ADDR', async () => {
    api.on('GET', '/v1/catalog/services', { body: { web: [] } });
    const result = await runCli(undefined, ['catalog', 'services'], {
      env: { MESHPEER_HTTP_ADDR: api.hostPort },
    });
    expect(result).toMatchObject({ code: 0, stdout: 'web\n' });
  });

  it('sends X-Consul-Token from MESHPEER_HTTP_TOKEN, and --token wins over it', async () => {
    api.on('GET', '/v1/catalog/services', { body: {} });
    await runCli(api, ['catalog', 'services'], { env: { MESHPEER_HTTP_TOKEN: 'from-env' } });
    await runCli(api, ['catalog', 'services', '-token', 'from-flag'], {
      env: { MESHPEER_HTTP_TOKEN: 'from-env' },
    });
    await runCli(api, ['catalog', 'services']);
    expect(api.requests.map((r) => r.headers['x-consul-token'])).toEqual([
      'from-env',
      'from-flag',
      undefined,
    ]);
  });
});
