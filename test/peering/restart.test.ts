// A server stopped with SIGTERM and started again (same data dir, same ports) keeps its peerings and
// re-establishes them: both sides ACTIVE again, imports intact — whichever side restarts.
import { afterAll, describe, expect, it } from 'vitest';
import {
  api,
  Cluster,
  converge,
  exportServices,
  importSnapshot,
  localSnapshot,
  type Peering,
  peer,
  readPeering,
  register,
  registerGateway,
  type ServerProcess,
  waitState,
} from './helpers.js';

const cluster = new Cluster();
afterAll(() => cluster.stopAll());

describe('graceful restart', () => {
  it('acceptor then dialer restarted with SIGTERM keep their peerings, come back ACTIVE with imports intact', async () => {
    const accDir = cluster.dir();
    const dialDir = cluster.dir();
    let acc = await cluster.start('restart-acc', { dataDir: accDir });
    let dial = await cluster.start('restart-dial', { dataDir: dialDir });
    await peer(acc, dial, 'acceptor', 'dialer', { Meta: { team: 'payments' } });
    await Promise.all([registerGateway(acc), registerGateway(dial)]);
    await register(acc, { node: 'a1', service: 'ledger', id: 'ledger-1' });
    await register(acc, { node: 'a2', service: 'ledger', id: 'ledger-2', status: 'warning' });
    await register(dial, { node: 'd1', service: 'audit', id: 'audit-1' });
    await exportServices(acc, { ledger: ['dialer'] });
    await exportServices(dial, { audit: ['acceptor'] });
    const wantOnDialer = await localSnapshot(acc, ['ledger']);
    const wantOnAcceptor = await localSnapshot(dial, ['audit']);
    await converge(() => importSnapshot(dial, 'acceptor'), wantOnDialer);
    await converge(() => importSnapshot(acc, 'dialer'), wantOnAcceptor);
    const accBefore = (await readPeering(acc, 'dialer')) as Peering;
    const dialBefore = (await readPeering(dial, 'acceptor')) as Peering;

    const restart = async (s: ServerProcess, dc: string, dir: string): Promise<ServerProcess> => {
      await s.stop();
      expect(s.child.exitCode, s.logs.slice(-5).join('\n')).toBe(0);
      return cluster.start(dc, { dataDir: dir, httpAddr: s.httpAddress, grpcAddr: s.grpcAddress });
    };

    // The acceptor restarts.
    acc = await restart(acc, 'restart-acc', accDir);
    // Its imports are on disk: present immediately, before any stream.
    expect(await importSnapshot(acc, 'dialer')).toEqual(wantOnAcceptor);
    await waitState(dial, 'acceptor', 'ACTIVE', 10_000);
    const accAfter = await waitState(acc, 'dialer', 'ACTIVE', 10_000);
    expect(accAfter.ID).toBe(accBefore.ID);
    expect(accAfter.Meta).toEqual({ team: 'payments' });
    expect(accAfter.CreateIndex).toBe(accBefore.CreateIndex);
    await converge(() => importSnapshot(dial, 'acceptor'), wantOnDialer);
    await converge(() => importSnapshot(acc, 'dialer'), wantOnAcceptor);

    // The dialer restarts.
    dial = await restart(dial, 'restart-dial', dialDir);
    expect(await importSnapshot(dial, 'acceptor')).toEqual(wantOnDialer);
    const dialAfter = await waitState(dial, 'acceptor', 'ACTIVE', 10_000);
    await waitState(acc, 'dialer', 'ACTIVE', 10_000);
    expect(dialAfter.ID).toBe(dialBefore.ID);
    expect(dialAfter.PeerID).toBe(accBefore.ID);
    await converge(() => importSnapshot(dial, 'acceptor'), wantOnDialer);
    await converge(() => importSnapshot(acc, 'dialer'), wantOnAcceptor);

    // Both restarted at once: still fine, and replication works afterwards.
    [acc, dial] = await Promise.all([
      restart(acc, 'restart-acc', accDir),
      restart(dial, 'restart-dial', dialDir),
    ]);
    await waitState(dial, 'acceptor', 'ACTIVE', 10_000);
    await waitState(acc, 'dialer', 'ACTIVE', 10_000);
    await register(acc, { node: 'a3', service: 'ledger', id: 'ledger-3' });
    await converge(() => importSnapshot(dial, 'acceptor'), await localSnapshot(acc, ['ledger']));
    const list = await api<Peering[]>(`${acc.url}/v1/peerings`);
    expect(list.body.map((p) => p.Name)).toEqual(['dialer']);
  });
});
