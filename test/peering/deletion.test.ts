// Deleting a peering from either side: the peer becomes TERMINATED and imports go on both sides; then
// peering again under the same names works (re-peering after delete/terminate must not stick).
import { afterAll, describe, expect, it } from 'vitest';
import {
  api,
  Cluster,
  converge,
  exportServices,
  importedServices,
  peer,
  readPeering,
  register,
  registerGateway,
  type ServerProcess,
  waitState,
} from './helpers.js';

const cluster = new Cluster();
afterAll(() => cluster.stopAll());

async function peeredWithExports(prefix: string): Promise<{ acc: ServerProcess; dial: ServerProcess }> {
  const [acc, dial] = await Promise.all([cluster.start(`${prefix}-acc`), cluster.start(`${prefix}-dial`)]);
  await peer(acc, dial, 'acceptor', 'dialer');
  await Promise.all([registerGateway(acc), registerGateway(dial)]);
  await register(acc, { node: 'n1', service: 'from-acceptor', id: 'fa-1' });
  await register(dial, { node: 'm1', service: 'from-dialer', id: 'fd-1' });
  await exportServices(acc, { 'from-acceptor': ['dialer'] });
  await exportServices(dial, { 'from-dialer': ['acceptor'] });
  await converge(() => importedServices(dial, 'acceptor'), ['from-acceptor']);
  await converge(() => importedServices(acc, 'dialer'), ['from-dialer']);
  return { acc, dial };
}

async function trustBundlePeers(server: ServerProcess): Promise<string[]> {
  const r = await api<Array<{ PeerName: string }>>(`${server.url}/v1/internal/meshpeer/trust-bundles`);
  return r.body.map((b) => b.PeerName).sort();
}

async function expectGone(server: ServerProcess, name: string): Promise<void> {
  await converge(async () => (await readPeering(server, name)) === undefined, true);
  const list = await api<Array<{ Name: string }>>(`${server.url}/v1/peerings`);
  expect(list.body.map((p) => p.Name)).not.toContain(name);
  expect(await importedServices(server, name)).toEqual([]);
  expect(await trustBundlePeers(server)).not.toContain(name);
}

describe('deletion', () => {
  it('DELETE on the acceptor: dialer TERMINATED with its imports removed; then re-peering with the same names works', async () => {
    const { acc, dial } = await peeredWithExports('del-acc');
    expect(await trustBundlePeers(dial)).toEqual(['acceptor']);

    const r = await api(`${acc.url}/v1/peering/dialer`, { method: 'DELETE' });
    expect(r.status, r.text).toBe(200);
    await expectGone(acc, 'dialer');

    const terminated = await waitState(dial, 'acceptor', 'TERMINATED', 5000);
    expect(terminated.Reason).toMatch(/deleted/);
    await converge(() => importedServices(dial, 'acceptor'), []);
    expect(await trustBundlePeers(dial)).toEqual([]);
    // It stays TERMINATED (no redial loop brings it back).
    await new Promise((res) => setTimeout(res, 700));
    expect((await readPeering(dial, 'acceptor'))?.State).toBe('TERMINATED');

    // Re-peer under the same names, without deleting the TERMINATED record first.
    await peer(acc, dial, 'acceptor', 'dialer');
    await converge(() => importedServices(dial, 'acceptor'), ['from-acceptor']);
    await converge(() => importedServices(acc, 'dialer'), ['from-dialer']);
  });

  it('DELETE on the dialer: acceptor TERMINATED, imports removed on both; then re-peering with the same names works', async () => {
    const { acc, dial } = await peeredWithExports('del-dial');

    const r = await api(`${dial.url}/v1/peering/acceptor`, { method: 'DELETE' });
    expect(r.status, r.text).toBe(200);
    await expectGone(dial, 'acceptor');

    const terminated = await waitState(acc, 'dialer', 'TERMINATED', 5000);
    expect(terminated.Reason).toMatch(/deleted/);
    await converge(() => importedServices(acc, 'dialer'), []);
    expect(await trustBundlePeers(acc)).toEqual([]);

    // The acceptor's operator may delete the TERMINATED peering, or just generate a new token.
    await peer(acc, dial, 'acceptor', 'dialer');
    await converge(() => importedServices(dial, 'acceptor'), ['from-acceptor']);
    await converge(() => importedServices(acc, 'dialer'), ['from-dialer']);

    // And deleting the TERMINATED side's record works too, after which peering again still works.
    await api(`${dial.url}/v1/peering/acceptor`, { method: 'DELETE' });
    await waitState(acc, 'dialer', 'TERMINATED', 5000);
    const del = await api(`${acc.url}/v1/peering/dialer`, { method: 'DELETE' });
    expect(del.status, del.text).toBe(200);
    await expectGone(acc, 'dialer');
    await peer(acc, dial, 'acceptor', 'dialer');
    await converge(() => importedServices(dial, 'acceptor'), ['from-acceptor']);
  });

  it('DELETE of a PENDING peering and of an unknown one', async () => {
    const acc = await cluster.start('del-pending');
    const t = await api(`${acc.url}/v1/peering/token`, { method: 'POST', json: { PeerName: 'later' } });
    expect(t.status).toBe(200);
    expect((await readPeering(acc, 'later'))?.State).toBe('PENDING');
    const r = await api(`${acc.url}/v1/peering/later`, { method: 'DELETE' });
    expect(r.status).toBe(200);
    expect(await readPeering(acc, 'later')).toBeUndefined();
    const missing = await api(`${acc.url}/v1/peering/never-existed`, { method: 'DELETE' });
    expect(missing.status).toBe(404);
  });

  it('DELETE on a dialer waiting to redial still tells the acceptor, which becomes TERMINATED', async () => {
    const dir = cluster.dir();
    let acc = await cluster.start('del-gap-acc', { dataDir: dir });
    const dial = await cluster.start('del-gap-dial', { extraArgs: ['--peering-redial-max', '30s'] });
    await peer(acc, dial, 'acceptor', 'dialer');
    const grpc = acc.grpcAddress;
    await acc.kill();
    await waitState(dial, 'acceptor', 'FAILING');
    // Long enough for the dialer's backoff to grow past the seconds the rest of the test takes.
    await new Promise((r) => setTimeout(r, 7_000));
    acc = await cluster.start('del-gap-acc', { dataDir: dir, grpcAddr: grpc });
    const del = await api(`${dial.url}/v1/peering/acceptor`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    expect(await readPeering(dial, 'acceptor')).toBeUndefined();
    const terminated = await readPeering(acc, 'dialer');
    expect(terminated?.State).toBe('TERMINATED');
  }, 40_000);
});
