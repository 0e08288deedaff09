// The network between the peers fails: a TCP proxy (in this test) sits between dialer and acceptor, and
// the token names only the proxy. Cutting every connection and refusing new ones makes the peering
// FAILING; restoring it brings it back ACTIVE with replication working. A proxy that silently drops
// traffic (connections stay open) is caught by the heartbeat timeout.
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  api,
  Cluster,
  converge,
  exportServices,
  importSnapshot,
  instanceSet,
  localSnapshot,
  type Peering,
  peer,
  portOf,
  readPeering,
  register,
  registerGateway,
  type ServerProcess,
  sleep,
  waitState,
} from './helpers.js';

/** A loopback TCP proxy that can cut, refuse, silently drop, and restore. */
class TcpProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private dropping = false;
  port = 0;
  connections = 0;

  constructor(private readonly targetPort: number) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async listen(): Promise<void> {
    const server = net.createServer((client) => this.pipe(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  private pipe(client: net.Socket): void {
    this.connections++;
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        this.sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (d) => {
      if (!this.dropping) upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (!this.dropping) client.write(d);
    });
  }

  /** Closes every connection and stops listening: new connections are refused. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  /** Keeps connections open but forwards nothing. */
  blackhole(on: boolean): void {
    this.dropping = on;
  }

  async close(): Promise<void> {
    this.dropping = false;
    await this.cut();
  }
}

const cluster = new Cluster();
const proxies: TcpProxy[] = [];
afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  await cluster.stopAll();
});

describe('a TCP proxy between the peers', () => {
  let acc: ServerProcess;
  let dial: ServerProcess;
  let proxy: TcpProxy;

  beforeAll(async () => {
    [acc, dial] = await Promise.all([cluster.start('net-acc'), cluster.start('net-dial')]);
    proxy = new TcpProxy(portOf(acc.grpcAddress));
    proxies.push(proxy);
    await proxy.listen();
    await peer(acc, dial, 'acceptor', 'dialer', { ServerExternalAddresses: [proxy.address] });
    await registerGateway(acc);
    await register(acc, { node: 'n1', service: 'catalogue', id: 'catalogue-1' });
    await exportServices(acc, { catalogue: ['dialer'] });
    await converge(() => instanceSet(dial, 'catalogue', 'acceptor'), ['n1/catalogue-1:passing']);
  });

  it('the dialer only uses the addresses the token named', async () => {
    const p = await readPeering(dial, 'acceptor');
    expect(p?.PeerServerAddresses).toEqual([proxy.address]);
    expect(proxy.connections).toBeGreaterThan(0);
  });

  it('cut and refused: FAILING with the reason; restored: ACTIVE and replicating again', async () => {
    await proxy.cut();
    const failing = await waitState(dial, 'acceptor', 'FAILING', 5000);
    expect(failing.Reason).toMatch(/stream down/);
    expect(failing.Reason).toContain(proxy.address);
    await waitState(acc, 'dialer', 'FAILING', 5000);
    // While it stays down the dialer keeps saying why (connection refused at the proxy's address).
    await sleep(1500);
    const still = await readPeering(dial, 'acceptor');
    expect(still?.State).toBe('FAILING');
    expect(still?.Reason).toMatch(/ECONNREFUSED|refused|No connection established|UNAVAILABLE/i);

    // A change made while the link is down reaches the dialer after it comes back.
    await register(acc, { node: 'n2', service: 'catalogue', id: 'catalogue-2' });

    await proxy.listen();
    await waitState(dial, 'acceptor', 'ACTIVE', 10_000);
    await waitState(acc, 'dialer', 'ACTIVE', 10_000);
    await converge(() => importSnapshot(dial, 'acceptor'), await localSnapshot(acc, ['catalogue']));
    await register(acc, { node: 'n3', service: 'catalogue', id: 'catalogue-3' });
    await converge(
      () => instanceSet(dial, 'catalogue', 'acceptor'),
      ['n1/catalogue-1:passing', 'n2/catalogue-2:passing', 'n3/catalogue-3:passing'],
    );
  });

  it('silently dropped traffic: the heartbeat timeout marks both sides FAILING; then it recovers', async () => {
    const active = await waitState(dial, 'acceptor', 'ACTIVE');
    const list = await api<Peering[]>(`${acc.url}/v1/peerings`);
    expect(list.body.map((p) => p.State)).toEqual(['ACTIVE']);
    const blocked = api<Peering[]>(`${acc.url}/v1/peerings?index=${list.index}&wait=20s`);
    proxy.blackhole(true);
    const started = Date.now();
    // The acceptor's blocking list wakes when the peering goes FAILING (within the 1.5 s timeout).
    const listed = await blocked;
    expect(Date.now() - started).toBeLessThan(5000);
    expect(listed.body.map((p) => p.State)).toEqual(['FAILING']);
    expect(active.State).toBe('ACTIVE');
    const failing = await waitState(dial, 'acceptor', 'FAILING', 6000);
    // Timeout is 1.5 s: not FAILING much before that, and not ACTIVE for minutes either.
    expect(Date.now() - started).toBeGreaterThan(1000);
    expect(failing.Reason).toMatch(/nothing received|stream down/);
    await waitState(acc, 'dialer', 'FAILING', 6000);

    // A blocking read of the peering wakes when its state changes (here: back to ACTIVE), so watchers
    // such as the Kubernetes controller see transitions without polling.
    const before = await api<Peering>(`${dial.url}/v1/peering/acceptor`);
    expect(before.body.State).toBe('FAILING');
    const woke = api<Peering>(`${dial.url}/v1/peering/acceptor?index=${before.index}&wait=20s`);
    const t0 = Date.now();
    proxy.blackhole(false);
    const after = await woke;
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(after.index).toBeGreaterThan(before.index);
    await waitState(dial, 'acceptor', 'ACTIVE', 10_000);
    await waitState(acc, 'dialer', 'ACTIVE', 10_000);
    await register(acc, { node: 'n4', service: 'catalogue', id: 'catalogue-4' });
    await converge(() => importSnapshot(dial, 'acceptor'), await localSnapshot(acc, ['catalogue']));
  });
});
