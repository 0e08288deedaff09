// Config entries over HTTP: every supported kind, validation errors that name the field, and
// check-and-set writes and deletes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';

interface Stamped {
  Kind: string;
  Name: string;
  CreateIndex: number;
  ModifyIndex: number;
}

let server: ServerProcess;
let url: string;

beforeAll(async () => {
  server = await startServerProcess({ datacenter: 'dc-config' });
  url = server.url;
});

afterAll(async () => {
  await server.stop();
});

const put = (body: unknown, query = '') => api(`${url}/v1/config${query}`, { method: 'PUT', json: body });

const VALID: Array<Record<string, unknown> & { Kind: string; Name: string }> = [
  {
    Kind: 'exported-services',
    Name: 'default',
    Services: [
      { Name: 'web', Consumers: [{ Peer: 'cluster-02' }] },
      { Name: '*', Consumers: [{ Peer: 'cluster-03' }] },
    ],
  },
  {
    Kind: 'mesh',
    Name: 'mesh',
    Peering: { PeerThroughMeshGateways: true },
    TransparentProxy: { MeshDestinationsOnly: true },
  },
  { Kind: 'proxy-defaults', Name: 'global', MeshGateway: { Mode: 'local' }, Config: { protocol: 'http' } },
  {
    Kind: 'service-intentions',
    Name: 'backend',
    Sources: [
      { Name: 'frontend', Peer: 'cluster-02', Action: 'allow' },
      { Name: '*', Action: 'deny' },
    ],
  },
  {
    Kind: 'service-resolver',
    Name: 'backend',
    ConnectTimeout: '5s',
    Failover: { '*': { Targets: [{ Peer: 'cluster-02' }] } },
  },
  { Kind: 'service-resolver', Name: 'moved', Redirect: { Service: 'backend', Peer: 'cluster-02' } },
];

describe('config entries', () => {
  it.each(VALID.map((e) => [`${e.Kind}/${e.Name}`, e] as const))(
    'writes %s, reads it back with its indexes, and lists it under its kind',
    async (_name, entry) => {
      const w = await put(entry);
      expect(w.status, w.text).toBe(200);
      expect(w.body).toBe(true);

      const r = await api<Stamped>(`${url}/v1/config/${entry.Kind}/${encodeURIComponent(entry.Name)}`);
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject(entry);
      expect(r.body.CreateIndex).toBeGreaterThan(0);
      expect(r.body.ModifyIndex).toBeGreaterThanOrEqual(r.body.CreateIndex);
      expect(r.index).toBeGreaterThanOrEqual(r.body.ModifyIndex);

      const list = await api<Stamped[]>(`${url}/v1/config/${entry.Kind}`);
      expect(list.status).toBe(200);
      expect(list.body.map((e) => e.Name)).toContain(entry.Name);
      expect(list.body.every((e) => e.Kind === entry.Kind)).toBe(true);
    },
  );

  it.each([
    [
      'exported-services: a consumer peer that is not a string',
      {
        Kind: 'exported-services',
        Name: 'default',
        Services: [{ Name: 'web', Consumers: [{ Peer: 7 }] }],
      },
      'Services[0].Consumers[0].Peer',
    ],
    [
      'exported-services: a name other than default',
      { Kind: 'exported-services', Name: 'other', Services: [] },
      'Name',
    ],
    [
      'mesh: a boolean given as a string',
      { Kind: 'mesh', Name: 'mesh', Peering: { PeerThroughMeshGateways: 'yes' } },
      'Peering.PeerThroughMeshGateways',
    ],
    [
      'proxy-defaults: an unknown mesh gateway mode',
      { Kind: 'proxy-defaults', Name: 'global', MeshGateway: { Mode: 'sideways' } },
      'MeshGateway.Mode',
    ],
    [
      'service-intentions: an action that is neither allow nor deny',
      { Kind: 'service-intentions', Name: 'backend', Sources: [{ Name: 'frontend', Action: 'maybe' }] },
      'Sources[0].Action',
    ],
    [
      'service-resolver: a timeout that is not a duration',
      { Kind: 'service-resolver', Name: 'backend', ConnectTimeout: 'soon' },
      'ConnectTimeout',
    ],
    ['an unknown kind', { Kind: 'service-splitter', Name: 'x' }, 'Kind'],
  ])('refuses %s with 400 naming the field', async (_what, body, field) => {
    const before = await api(`${url}/v1/config/mesh`);
    const r = await put(body);
    expect(r.status).toBe(400);
    expect(r.text).toContain(field);
    // Nothing was written.
    expect((await api(`${url}/v1/config/mesh`)).index).toBe(before.index);
  });

  it('answers 404 for an entry that does not exist, and 400 for an unknown kind in the path', async () => {
    const missing = await api(`${url}/v1/config/service-resolver/nothing-here`);
    expect(missing.status).toBe(404);
    expect(missing.text).toContain('nothing-here');
    const kind = await api(`${url}/v1/config/no-such-kind/x`);
    expect(kind.status).toBe(400);
    expect(kind.text).toContain('no-such-kind');
  });

  it('deletes an entry', async () => {
    await put({ Kind: 'service-resolver', Name: 'doomed', ConnectTimeout: '1s' });
    const d = await api(`${url}/v1/config/service-resolver/doomed`, { method: 'DELETE' });
    expect(d.status).toBe(200);
    expect((await api(`${url}/v1/config/service-resolver/doomed`)).status).toBe(404);
  });
});

describe('check-and-set', () => {
  it('?cas=0 creates an entry only if it does not exist', async () => {
    const entry = { Kind: 'service-resolver', Name: 'cas-create', ConnectTimeout: '1s' };
    const first = await put(entry, '?cas=0');
    expect(first.status).toBe(200);
    expect(first.body).toBe(true);
    const second = await put({ ...entry, ConnectTimeout: '2s' }, '?cas=0');
    expect(second.status).toBe(200);
    expect(second.body).toBe(false);
    const r = await api<{ ConnectTimeout: string }>(`${url}/v1/config/service-resolver/cas-create`);
    expect(r.body.ConnectTimeout).toBe('1s');
  });

  it('?cas=ModifyIndex writes only over the version that was read; a stale index is refused', async () => {
    await put({ Kind: 'service-resolver', Name: 'cas-update', ConnectTimeout: '1s' });
    const read = await api<Stamped>(`${url}/v1/config/service-resolver/cas-update`);
    const v1 = read.body.ModifyIndex;

    const ok = await put(
      { Kind: 'service-resolver', Name: 'cas-update', ConnectTimeout: '2s' },
      `?cas=${v1}`,
    );
    expect(ok.body).toBe(true);
    const after = await api<Stamped & { ConnectTimeout: string }>(
      `${url}/v1/config/service-resolver/cas-update`,
    );
    expect(after.body.ConnectTimeout).toBe('2s');
    expect(after.body.ModifyIndex).toBeGreaterThan(v1);
    expect(after.body.CreateIndex).toBe(read.body.CreateIndex);

    const stale = await put(
      { Kind: 'service-resolver', Name: 'cas-update', ConnectTimeout: '3s' },
      `?cas=${v1}`,
    );
    expect(stale.status).toBe(200);
    expect(stale.body).toBe(false);
    const still = await api<{ ConnectTimeout: string }>(`${url}/v1/config/service-resolver/cas-update`);
    expect(still.body.ConnectTimeout).toBe('2s');
  });

  it('concurrent check-and-set writers from the same version: exactly one wins', async () => {
    await put({ Kind: 'service-resolver', Name: 'cas-race', ConnectTimeout: '1s' });
    const v = (await api<Stamped>(`${url}/v1/config/service-resolver/cas-race`)).body.ModifyIndex;
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        put({ Kind: 'service-resolver', Name: 'cas-race', ConnectTimeout: `${i + 2}s` }, `?cas=${v}`),
      ),
    );
    expect(results.filter((r) => r.body === true)).toHaveLength(1);
    expect(results.filter((r) => r.body === false)).toHaveLength(9);
  });

  it('DELETE ?cas= deletes only at the matching index', async () => {
    await put({ Kind: 'service-resolver', Name: 'cas-delete', ConnectTimeout: '1s' });
    const v = (await api<Stamped>(`${url}/v1/config/service-resolver/cas-delete`)).body.ModifyIndex;
    const wrong = await api(`${url}/v1/config/service-resolver/cas-delete?cas=${v - 1}`, {
      method: 'DELETE',
    });
    expect(wrong.status).toBe(200);
    expect(wrong.body).toBe(false);
    expect((await api(`${url}/v1/config/service-resolver/cas-delete`)).status).toBe(200);
    const right = await api(`${url}/v1/config/service-resolver/cas-delete?cas=${v}`, { method: 'DELETE' });
    expect(right.body).toBe(true);
    expect((await api(`${url}/v1/config/service-resolver/cas-delete`)).status).toBe(404);
  });

  it('refuses a ?cas= that is not a non-negative integer with 400', async () => {
    for (const cas of ['-1', 'abc', '1.5', '1e3']) {
      const r = await put({ Kind: 'service-resolver', Name: 'cas-bad', ConnectTimeout: '1s' }, `?cas=${cas}`);
      expect(r.status, cas).toBe(400);
      expect(r.text, cas).toContain('cas');
    }
  });
});
