// Mesh gateway mode `none` is invalid for peered traffic; it is refused with a clear error
// wherever it would apply to peered upstreams (proxy-defaults, once the cluster has a peering).
import { afterAll, describe, expect, it } from 'vitest';
import { api, Cluster, peer } from './helpers.js';

const cluster = new Cluster();
afterAll(() => cluster.stopAll());

const noneDefaults = { Kind: 'proxy-defaults', Name: 'global', MeshGateway: { Mode: 'none' } };

describe('mesh gateway mode none', () => {
  it('is accepted without peerings and refused, naming the field, once the cluster peers', async () => {
    const [acc, dial] = await Promise.all([cluster.start('mode-acc'), cluster.start('mode-dial')]);
    expect((await api(`${acc.url}/v1/config`, { json: noneDefaults })).status).toBe(200);
    await api(`${acc.url}/v1/config`, { json: { ...noneDefaults, MeshGateway: { Mode: 'remote' } } });

    await peer(acc, dial, 'acceptor', 'dialer');
    for (const server of [acc, dial]) {
      const r = await api(`${server.url}/v1/config`, { json: noneDefaults });
      expect(r.status).toBe(400);
      expect(r.text).toMatch(/^MeshGateway\.Mode: "none" is not valid while this cluster has peerings/);
      expect(r.text).toMatch(/use "remote" or "local"/);
    }
    expect(
      (await api(`${dial.url}/v1/config`, { json: { ...noneDefaults, MeshGateway: { Mode: 'local' } } }))
        .status,
    ).toBe(200);
  });
});
