// /v1/agent/service/:id carries Consul's ContentHash (the number a Consul agent gives the same service)
// in its body and X-Consul-ContentHash, and ?hash=H blocks while the answer's hash is still H, as on a
// Consul agent: it returns when the service changes, goes away, or `wait` elapses, and at once for
// another hash.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, eventually, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';
import { metricValue, request } from './support.js';

let server: ServerProcess;
let url: string;

beforeAll(async () => {
  server = await startServerProcess({ datacenter: 'dc1' });
  url = server.url;
});

afterAll(async () => {
  await server.stop();
});

interface AgentService {
  ID: string;
  Tags: string[];
  ContentHash: string;
}

const register = (json: unknown) => api(`${url}/v1/agent/service/register`, { method: 'PUT', json });
const service = (query = '') => api<AgentService>(`${url}/v1/agent/service/foo${query}`);
const blocked = async () =>
  metricValue((await request(`${url}/metrics`)).text, 'meshpeer_http_blocking_queries');

/** A request and whether it has returned yet. */
function watch(query: string) {
  const state: { returned: boolean } = { returned: false };
  const done = service(query).finally(() => {
    state.returned = true;
  });
  return { done, state };
}

// The service HashiCorp's consul/api suite registers in TestAPI_AgentService.
const foo = {
  Name: 'foo',
  Tags: ['bar', 'baz'],
  Port: 8000,
  Checks: [{ TTL: '15s' }, { TTL: '30s' }],
};

describe('ContentHash on /v1/agent/service/:id', () => {
  it('is the hash a Consul agent gives the same service, in the body and X-Consul-ContentHash', async () => {
    expect((await register(foo)).status).toBe(200);
    const r = await service();
    expect(r.status).toBe(200);
    expect(r.body.ContentHash).toBe('1d5d568c14309fa8');
    expect(r.headers.get('x-consul-contenthash')).toBe('1d5d568c14309fa8');
    // The same content registered again hashes the same.
    expect((await register(foo)).status).toBe(200);
    expect((await service()).body.ContentHash).toBe('1d5d568c14309fa8');
  });

  it('?hash= blocks while the hash is unchanged (other writes do not wake it for good) and returns the changed service', async () => {
    const before = (await service()).body.ContentHash;
    const idle = await blocked();
    const w = watch(`?hash=${before}&wait=5m`);
    await eventually(async () => (await blocked()) > idle);
    // A write to the catalog that leaves the answer as it is: the query goes on waiting.
    expect((await api(`${url}/v1/agent/check/pass/service:foo:1`, { method: 'PUT' })).status).toBe(200);
    await eventually(async () => (await blocked()) > idle);
    expect(w.state.returned).toBe(false);

    expect((await register({ ...foo, Tags: ['bar'] })).status).toBe(200);
    const r = await w.done;
    expect(r.status).toBe(200);
    expect(r.body.Tags).toEqual(['bar']);
    expect(r.body.ContentHash).not.toBe(before);
    expect(r.body.ContentHash).toBe((await service()).body.ContentHash);
    expect(r.headers.get('x-consul-contenthash')).toBe(r.body.ContentHash);
  });

  it('answers at once for a hash that is not the current one, and after wait with the same hash', async () => {
    const now = (await service()).body;
    const other = await service('?hash=1d5d568c14309fa8&wait=10m');
    expect(other.body).toEqual(now);
    const same = await service(`?hash=${now.ContentHash}&wait=1s`);
    expect(same.status).toBe(200);
    expect(same.body).toEqual(now);
  });

  it('returns 404 when the service is deregistered while blocking, and refuses a bad wait', async () => {
    const h = (await service()).body.ContentHash;
    const idle = await blocked();
    const w = watch(`?hash=${h}&wait=5m`);
    await eventually(async () => (await blocked()) > idle);
    expect((await api(`${url}/v1/agent/service/deregister/foo`, { method: 'PUT' })).status).toBe(200);
    const r = await w.done;
    expect(r.status).toBe(404);
    expect(r.text).toContain('unknown service ID: foo');
    expect((await service(`?hash=${h}&wait=forever`)).status).toBe(400);
  });
});
