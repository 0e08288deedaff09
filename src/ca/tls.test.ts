import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spiffeIdOf } from './inspect.js';
import { type IssuedCert, issueLeaf, issueServerCert } from './leaf.js';
import { createRootCa, type RootCa } from './root.js';
import { parseServiceSpiffeId } from './spiffe.js';
import { verifyIdentity } from './trust-bundle.js';
import { newTrustDomain } from './trust-domain.js';

// Real mutual-TLS handshakes through OpenSSL, so the certificates are proven usable by a TLS stack
// and not only by our own verifier.

interface Seen {
  spiffeId?: string;
  authorized: boolean;
  authorizationError?: string;
}

let rootA: RootCa;
let rootB: RootCa;
const servers: tls.Server[] = [];

beforeAll(async () => {
  rootA = await createRootCa({ clusterName: 'cluster-01', trustDomain: newTrustDomain() });
  rootB = await createRootCa({ clusterName: 'cluster-02', trustDomain: newTrustDomain() });
});

afterAll(async () => {
  await Promise.all(
    servers.map((s) => {
      s.close();
      return once(s, 'close');
    }),
  );
});

/** A TLS server that records who connected and answers 'hello'. */
async function listen(cert: IssuedCert, opts: tls.TlsOptions): Promise<{ port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = tls.createServer({ cert: cert.certPem, key: cert.keyPem, ...opts }, (socket) => {
    const peer = socket.getPeerX509Certificate();
    seen.push({
      spiffeId: peer ? spiffeIdOf(peer) : undefined,
      authorized: socket.authorized,
      authorizationError: socket.authorizationError?.toString(),
    });
    socket.end('hello');
  });
  // Refused handshakes are reported here; the tests assert on what the client and handler saw.
  server.on('tlsClientError', () => {});
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port, seen };
}

/** What the server sent; a refused handshake shows as '' or an error message depending on timing. */
function connect(port: number, ca: string, servername: string, client?: IssuedCert): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      servername,
      ca: [ca],
      ...(client ? { cert: client.certPem, key: client.keyPem } : {}),
    });
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      data += chunk;
    });
    socket.on('end', () => resolve(data));
    socket.on('error', (err) => resolve(`error: ${err.message}`));
  });
}

describe('mutual TLS with issued leaves', () => {
  const mtls = (): tls.TlsOptions => ({ ca: [rootA.certPem], requestCert: true, rejectUnauthorized: true });

  it('lets a client of the same root in, and the server reads its SPIFFE ID', async () => {
    const backend = await issueLeaf(rootA, {
      service: 'backend',
      datacenter: 'dc1',
      dnsNames: ['localhost'],
    });
    const { port, seen } = await listen(backend, mtls());
    const client = await issueLeaf(rootA, { service: 'frontend', datacenter: 'dc1' });
    expect(await connect(port, rootA.certPem, 'localhost', client)).toBe('hello');
    expect(seen).toEqual([{ spiffeId: client.spiffeId, authorized: true }]);
    expect(parseServiceSpiffeId(seen[0]?.spiffeId ?? '').service).toBe('frontend');
  });

  it('refuses a client whose leaf comes from another root', async () => {
    const backend = await issueLeaf(rootA, {
      service: 'backend',
      datacenter: 'dc1',
      dnsNames: ['localhost'],
    });
    const { port, seen } = await listen(backend, mtls());
    const stranger = await issueLeaf(rootB, { service: 'frontend', datacenter: 'dc1' });
    expect(await connect(port, rootA.certPem, 'localhost', stranger)).not.toBe('hello');
    expect(seen).toEqual([]);

    // The same handshake on a server that records instead of refusing shows why: OpenSSL found no
    // trusted issuer for the client's certificate.
    const observer = await listen(backend, { ...mtls(), rejectUnauthorized: false });
    expect(await connect(observer.port, rootA.certPem, 'localhost', stranger)).toBe('hello');
    expect(observer.seen[0]).toMatchObject({ authorized: false, spiffeId: stranger.spiffeId });
    expect(observer.seen[0]?.authorizationError).toMatch(/UNABLE_TO|LOCAL_ISSUER|SIGNATURE/);
  });

  it('refuses a client without a certificate', async () => {
    const backend = await issueLeaf(rootA, {
      service: 'backend',
      datacenter: 'dc1',
      dnsNames: ['localhost'],
    });
    const { port, seen } = await listen(backend, mtls());
    expect(await connect(port, rootA.certPem, 'localhost')).not.toBe('hello');
    expect(seen).toEqual([]);
  });

  it('lets a client refuse a server of another root', async () => {
    const backend = await issueLeaf(rootB, {
      service: 'backend',
      datacenter: 'dc1',
      dnsNames: ['localhost'],
    });
    const { port } = await listen(backend, {});
    expect(await connect(port, rootA.certPem, 'localhost')).toMatch(/^error: .*certificate/i);
  });

  it('serves with a server certificate that verifies under the peering server name', async () => {
    const serverCert = await issueServerCert(rootA, { datacenter: 'dc1' });
    const { port } = await listen(serverCert, {});
    const serverName = `server.dc1.peering.${rootA.trustDomain}`;
    expect(await connect(port, rootA.certPem, serverName)).toBe('hello');
    expect(await connect(port, rootA.certPem, 'server.dc2.peering.other.consul')).toMatch(
      /^error: .*altnames/i,
    );
  });

  it('attributes a peer leaf to the peer whose trust bundle vouches for it', async () => {
    const peerLeaf = await issueLeaf(rootB, { service: 'frontend', datacenter: 'dc2' });
    const local = { trustDomain: rootA.trustDomain, rootPems: [rootA.certPem] };
    const bundle = { peerName: 'cluster-02', trustDomain: rootB.trustDomain, rootPems: [rootB.certPem] };
    const verified = verifyIdentity(peerLeaf.certPem, local, [bundle]);
    expect(verified.peerName).toBe('cluster-02');
    expect(verified.identity).toMatchObject({ service: 'frontend', datacenter: 'dc2' });
    // A peer's roots cannot vouch for a name in another trust domain.
    const forger = { ...bundle, trustDomain: 'elsewhere.consul' };
    expect(() => verifyIdentity(peerLeaf.certPem, local, [forger])).toThrow(/neither ours nor/);
    // Nor can a peer that claims our trust domain: local IDs are checked against local roots only.
    const impostor = await createRootCa({ clusterName: 'evil', trustDomain: rootA.trustDomain });
    const forged = await issueLeaf(impostor, { service: 'web', datacenter: 'dc1' });
    const evil = { peerName: 'evil', trustDomain: rootA.trustDomain, rootPems: [impostor.certPem] };
    expect(() => verifyIdentity(forged.certPem, local, [evil])).toThrow(/not signed by any trusted root/);
  });
});
