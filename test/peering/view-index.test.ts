// A peering's view includes what its stream has exported; a blocking read of it must wake when that
// changes, with a new X-Consul-Index, even though the change is the stream's and not a stored one.
import { afterAll, describe, expect, it } from 'vitest';
import { api, Cluster, eventually, exportServices, peer, register, registerGateway } from './helpers.js';

const cluster = new Cluster();
afterAll(() => cluster.stopAll());

interface View {
  StreamStatus: { ExportedServices: string[] };
}

describe("a peering's ExportedServices", () => {
  it('wakes a blocking read with a new index when the stream exports another service', async () => {
    const [acc, dial] = await Promise.all([cluster.start('vi-acc'), cluster.start('vi-dial')]);
    await peer(acc, dial, 'acceptor', 'dialer');
    await registerGateway(acc);
    await register(acc, { node: 'n1', service: 'web', id: 'web-1' });
    await register(acc, { node: 'n1', service: 'db', id: 'db-1' });
    await exportServices(acc, { web: ['dialer'] });
    await eventually(async () => {
      const r = await api<View>(`${acc.url}/v1/peering/dialer`);
      return r.body.StreamStatus.ExportedServices.includes('web');
    });
    const first = await api<View>(`${acc.url}/v1/peering/dialer`);
    const index = Number(first.headers.get('x-consul-index'));
    expect(first.body.StreamStatus.ExportedServices).toEqual(['web']);

    const read = (after: number) => api<View>(`${acc.url}/v1/peering/dialer?index=${after}&wait=10s`);
    let blockedOn = index;
    const blocked = read(blockedOn);
    await exportServices(acc, { web: ['dialer'], db: ['dialer'] });
    // The exported-services write wakes it first; the stream sends db a moment later, and that must
    // wake the next blocking read too (not leave it to the wait running out, with the same index).
    let answer = await blocked;
    for (let i = 0; i < 20 && !answer.body.StreamStatus.ExportedServices.includes('db'); i++) {
      expect(answer.index).toBeGreaterThan(blockedOn);
      blockedOn = answer.index;
      answer = await read(blockedOn);
    }
    expect(answer.body.StreamStatus.ExportedServices).toEqual(['db', 'web']);
    expect(answer.index).toBeGreaterThan(blockedOn);
  });
});
