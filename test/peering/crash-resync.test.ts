// Crashes (kill -9) of either side: the survivor reports FAILING with a reason, the crashed server comes
// back from its data dir, the stream is re-established and both imports converge exactly to what the
// other side exports — nothing stale, nothing missing.
import { afterAll, describe, expect, it } from 'vitest';
import {
  api,
  Cluster,
  converge,
  deregister,
  exportServices,
  importSnapshot,
  localSnapshot,
  peer,
  portOf,
  readPeering,
  register,
  registerGateway,
  type ServerProcess,
  waitState,
} from './helpers.js';

const cluster = new Cluster();
afterAll(() => cluster.stopAll());

async function seedExports(acc: ServerProcess, dial: ServerProcess): Promise<void> {
  await registerGateway(acc);
  await registerGateway(dial);
  await register(acc, { node: 'a-1', service: 'orders', id: 'orders-1' });
  await register(acc, { node: 'a-2', service: 'orders', id: 'orders-2' });
  await register(acc, { node: 'a-1', service: 'billing', id: 'billing-1' });
  await register(acc, { node: 'a-2', service: 'billing', id: 'billing-2', status: 'warning' });
  await exportServices(acc, { orders: ['dialer'], billing: ['dialer'] });
  await register(dial, { node: 'd-1', service: 'reports', id: 'reports-1' });
  await exportServices(dial, { reports: ['acceptor'] });
}

describe('kill -9 and resync', () => {
  it('acceptor killed: dialer FAILING with a reason, keeps its import; acceptor back on the same port: ACTIVE and exact', async () => {
    const accDir = cluster.dir();
    let acc = await cluster.start('crash-acc', { dataDir: accDir });
    const dial = await cluster.start('crash-dial', { dataDir: cluster.dir() });
    await peer(acc, dial, 'acceptor', 'dialer');
    await seedExports(acc, dial);

    const accExports = ['billing', 'orders'];
    await converge(() => importSnapshot(dial, 'acceptor'), await localSnapshot(acc, accExports));
    await converge(() => importSnapshot(acc, 'dialer'), await localSnapshot(dial, ['reports']));
    const importedBefore = await importSnapshot(dial, 'acceptor');

    const grpcPort = portOf(acc.grpcAddress);
    await acc.kill();

    const failing = await waitState(dial, 'acceptor', 'FAILING', 5000);
    expect(failing.Reason, JSON.stringify(failing)).toMatch(/stream down/);
    expect(failing.Reason).toMatch(new RegExp(`127\\.0\\.0\\.1:${grpcPort}`));
    expect(failing.StreamStatus.LastError).toBeTruthy();
    // The import is kept while the peer is away (it may come back).
    expect(await importSnapshot(dial, 'acceptor')).toEqual(importedBefore);

    acc = await cluster.start('crash-acc', { dataDir: accDir, grpcAddr: `127.0.0.1:${grpcPort}` });
    // The restarted acceptor knows the peering, though nobody has dialed in yet or just did.
    const p = await readPeering(acc, 'dialer');
    expect(p).toBeDefined();
    expect(['FAILING', 'ACTIVE']).toContain(p?.State);

    await waitState(dial, 'acceptor', 'ACTIVE', 10_000);
    await waitState(acc, 'dialer', 'ACTIVE', 10_000);
    await converge(() => importSnapshot(dial, 'acceptor'), await localSnapshot(acc, accExports));
    await converge(() => importSnapshot(acc, 'dialer'), await localSnapshot(dial, ['reports']));

    // And replication carries on after the reconnect.
    await register(acc, { node: 'a-3', service: 'orders', id: 'orders-3' });
    await converge(() => importSnapshot(dial, 'acceptor'), await localSnapshot(acc, accExports));
  });

  it('dialer killed, exports changed meanwhile, dialer restarted from its data dir: its import converges exactly', async () => {
    const acc = await cluster.start('crash2-acc', { dataDir: cluster.dir() });
    const dialDir = cluster.dir();
    let dial = await cluster.start('crash2-dial', { dataDir: dialDir });
    await peer(acc, dial, 'acceptor', 'dialer');
    await seedExports(acc, dial);
    await converge(() => importSnapshot(dial, 'acceptor'), await localSnapshot(acc, ['billing', 'orders']));
    await converge(() => importSnapshot(acc, 'dialer'), await localSnapshot(dial, ['reports']));

    await dial.kill();
    const failing = await waitState(acc, 'dialer', 'FAILING', 5000);
    expect(failing.Reason).toBeTruthy();

    // While the dialer is down: add a service, stop exporting another, change health, drop an instance.
    await register(acc, { node: 'a-3', service: 'payments', id: 'payments-1' });
    await register(acc, { node: 'a-1', service: 'orders', id: 'orders-1', status: 'critical' });
    await deregister(acc, 'a-2', 'orders-2');
    await register(acc, { node: 'a-4', service: 'orders', id: 'orders-4' });
    await exportServices(acc, { orders: ['dialer'], payments: ['dialer'] });
    const want = await localSnapshot(acc, ['orders', 'payments']);
    expect(Object.keys(want)).toEqual(['orders', 'payments']);
    expect(want.orders).toEqual(['a-1/orders-1:critical', 'a-4/orders-4:passing']);

    dial = await cluster.start('crash2-dial', { dataDir: dialDir });
    await waitState(dial, 'acceptor', 'ACTIVE', 10_000);
    await waitState(acc, 'dialer', 'ACTIVE', 10_000);
    await converge(() => importSnapshot(dial, 'acceptor'), want);
    // Nothing of billing survives, not even its nodes (a-2 now holds nothing exported).
    const nodes = await api<Array<{ Node: string }>>(`${dial.url}/v1/catalog/nodes?peer=acceptor`);
    expect(nodes.body.map((n) => n.Node).sort()).toEqual(['a-1', 'a-3', 'a-4']);
    const p = await readPeering(dial, 'acceptor');
    expect(p?.StreamStatus.ImportedServices.sort()).toEqual(['orders', 'payments']);
    // The acceptor still has the dialer's export, and it is current.
    await converge(() => importSnapshot(acc, 'dialer'), await localSnapshot(dial, ['reports']));
  });

  it('a large export (400 services) resyncs exactly after the dialer was down while a tenth of it changed', async () => {
    const acc = await cluster.start('big-acc', { dataDir: cluster.dir() });
    const dialDir = cluster.dir();
    let dial = await cluster.start('big-dial', { dataDir: dialDir });
    await peer(acc, dial, 'acceptor', 'dialer');
    await registerGateway(acc);
    const name = (i: number) => `svc-${String(i).padStart(3, '0')}`;
    await inParallel(400, 16, async (i) => {
      await register(acc, { node: `node-${i % 20}`, service: name(i), id: `${name(i)}-a` });
      await register(acc, { node: `node-${(i + 7) % 20}`, service: name(i), id: `${name(i)}-b` });
    });
    await exportServices(acc, { '*': ['dialer'] });
    const all = Array.from({ length: 400 }, (_, i) => name(i));
    await converge(() => importSnapshot(dial, 'acceptor'), await localSnapshot(acc, all), 20_000);

    await dial.kill();
    await inParallel(40, 8, async (k) => {
      const i = k * 10;
      if (k % 3 === 0) await deregister(acc, `node-${i % 20}`, `${name(i)}-a`);
      else if (k % 3 === 1)
        await register(acc, {
          node: `node-${i % 20}`,
          service: name(i),
          id: `${name(i)}-a`,
          status: 'critical',
        });
      else await register(acc, { node: 'node-new', service: name(i), id: `${name(i)}-c` });
    });
    await deregister(acc, `node-${(5 + 7) % 20}`, `${name(5)}-b`);
    await deregister(acc, `node-${5 % 20}`, `${name(5)}-a`);
    const want = await localSnapshot(acc, all);
    expect(Object.keys(want)).toHaveLength(399);

    dial = await cluster.start('big-dial', { dataDir: dialDir });
    await waitState(dial, 'acceptor', 'ACTIVE', 10_000);
    await converge(() => importSnapshot(dial, 'acceptor'), want, 20_000);
  });
});

async function inParallel(n: number, width: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}
