// Attacks by a peer on who it is (issue items: spoofed datacenter and peering ID, trust bundles that
// claim another identity) and by a token holder using establish as a scanner, against real servers.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, establish, generateToken, readPeering, type ServerProcess } from '../peering/helpers.js';
import { clientFor, closeHandPeers, decode, exchange, openStream } from '../support/hand-peer.js';
import { api } from '../support/meshpeer-process.js';

const cluster = new Cluster();
afterAll(() => cluster.stopAll());
afterEach(closeHandPeers);

async function expectEventually(fn: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (fn()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('condition not met');
}

const encode = (t: unknown): string => Buffer.from(JSON.stringify(t)).toString('base64');

describe('establish is not a scanner', () => {
  let acceptor: ServerProcess;
  let dialer: ServerProcess;
  let other: ServerProcess;

  beforeAll(async () => {
    [acceptor, dialer, other] = await Promise.all([
      cluster.start('scan-acceptor'),
      cluster.start('scan-dialer'),
      cluster.start('scan-other'),
    ]);
  });

  it('a closed port, a TLS server with another CA and a wrong server name all get one answer', async () => {
    const token = decode(await generateToken(acceptor, 'scan'));
    const answers: string[] = [];
    const variants = [
      { ...token, ServerAddresses: ['127.0.0.1:1'] },
      { ...token, ServerAddresses: [other.grpcAddress] },
      { ...token, ServerName: 'server.elsewhere.example' },
    ];
    for (const [i, t] of variants.entries()) {
      const r = await establish(dialer, `scan-${i}`, encode(t));
      expect(r.status, r.text).toBe(503);
      expect(r.text).not.toMatch(/ECONNREFUSED|certificate|self.signed|verify|timed? ?out/i);
      answers.push(r.text.replace(/at .* over TLS as "[^"]*"/, 'at X over TLS as Y'));
      // Nothing is left behind on the dialer, and the token's secret was not spent.
      expect(await readPeering(dialer, `scan-${i}`)).toBeUndefined();
    }
    expect(new Set(answers).size).toBe(1);
    const ok = await establish(dialer, 'scan-ok', encode(token));
    expect(ok.status, ok.text).toBe(200);
  });
});

describe('a peer cannot claim an identity that is not its own', () => {
  let acc: ServerProcess;

  beforeAll(async () => {
    acc = await cluster.start('identity-acceptor');
  });

  const bundle = (trustDomain: string) => ({
    TrustDomain: trustDomain,
    RootPEMs: ['-----BEGIN CERTIFICATE-----'],
  });

  it('the datacenter and peering ID shown are the ones given at establishment, not what the stream says', async () => {
    const token = decode(await generateToken(acc, 'hand-who'));
    const client = clientFor(token);
    const r = await client.exchange(
      {
        peerId: token.PeerID,
        establishmentSecret: token.EstablishmentSecret,
        remoteDatacenter: 'real-dc',
        dialerPeeringId: 'real-dialer-id',
      },
      { deadline: Date.now() + 5000 },
    );
    // openStream's Open message says it is "hand-dc" (and gives no peering ID).
    const stream = openStream(client, token.PeerID, r.streamSecret);
    await expectEventually(() => stream.received.length > 0);
    const p = await readPeering(acc, 'hand-who');
    expect(p?.Remote.Datacenter).toBe('real-dc');
    expect(p?.PeerID).toBe('real-dialer-id');
  });

  it("a trust bundle claiming the acceptor's own, another peer's, or a changed trust domain is NACKed and said", async () => {
    const roots = await api<{ TrustDomain: string }>(`${acc.url}/v1/connect/ca/roots`);
    const own = roots.body.TrustDomain;
    expect(own).toMatch(/\.consul$/);

    const tokenA = decode(await generateToken(acc, 'hand-td-a'));
    const clientA = clientFor(tokenA);
    const a = openStream(clientA, tokenA.PeerID, await exchange(clientA, tokenA));
    const okA = await a.ackFor(
      a.send('type.meshpeer.io/PeeringTrustBundle', 'roots', bundle('a.example.consul')),
    );
    expect(okA.error).toBeUndefined();

    const tokenB = decode(await generateToken(acc, 'hand-td-b'));
    const clientB = clientFor(tokenB);
    const b = openStream(clientB, tokenB.PeerID, await exchange(clientB, tokenB));
    const claimsOwn = await b.ackFor(b.send('type.meshpeer.io/PeeringTrustBundle', 'roots', bundle(own)));
    expect(claimsOwn.error?.message).toMatch(/own trust domain/);
    const claimsA = await b.ackFor(
      b.send('type.meshpeer.io/PeeringTrustBundle', 'roots', bundle('a.example.consul')),
    );
    expect(claimsA.error?.message).toMatch(/trust domain of peer "hand-td-a"/);
    // The peering says why, while the stream is up.
    const shown = await readPeering(acc, 'hand-td-b');
    expect(shown?.Reason).toMatch(/trust domain of peer "hand-td-a"/);

    const first = await b.ackFor(
      b.send('type.meshpeer.io/PeeringTrustBundle', 'roots', bundle('b.example.consul')),
    );
    expect(first.error).toBeUndefined();
    const switched = await b.ackFor(
      b.send('type.meshpeer.io/PeeringTrustBundle', 'roots', bundle('c.example.consul')),
    );
    expect(switched.error?.message).toMatch(/was b\.example\.consul .* establish the peering again/);

    // What is stored is what was accepted.
    const stored = await api<Array<{ PeerName: string; TrustDomain: string }>>(
      `${acc.url}/v1/internal/meshpeer/trust-bundles`,
    );
    expect(stored.body.map((x) => `${x.PeerName}=${x.TrustDomain}`).sort()).toEqual([
      'hand-td-a=a.example.consul',
      'hand-td-b=b.example.consul',
    ]);
  });
});
