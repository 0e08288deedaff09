import { once } from 'node:events';
import * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Endpoint } from '../../src/dataplane/endpoint.js';
import { echoOnce } from '../../src/dataplane/testing/traffic.js';
import { startTwoClusters, type TwoClusters } from '../../src/dataplane/testing/two-clusters.js';

// Issue 15: a sidecar resumes the TLS session of an upstream server it verified, across both mesh
// gateways (they pass the resumption handshake through untouched), and starts over with a full
// handshake once its TLS material changes (a renewed leaf). The exporting gateway is pointed at a
// TLS server standing in for the backend sidecar, with the backend's leaf, which records whether each
// handshake was resumed.

let mesh: TwoClusters;
let server: tls.Server;
const resumed: boolean[] = [];

beforeAll(async () => {
  mesh = await startTwoClusters();
  const leaf = await mesh.leaf(mesh.exporter, 'backend');
  server = tls.createServer(
    {
      cert: leaf.certPem,
      key: leaf.keyPem,
      ca: [mesh.importer.root.certPem],
      requestCert: true,
      rejectUnauthorized: true,
    },
    (socket) => {
      resumed.push(socket.isSessionReused());
      socket.on('error', () => {});
      // A resumed session still carries the caller's certificate, which a sidecar needs.
      const caller = socket.getPeerX509Certificate();
      socket.end(caller ? `resumed=${socket.isSessionReused()}` : 'no caller certificate');
    },
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const standIn: Endpoint = { host: '127.0.0.1', port };
  mesh.sources.exporterGateway.update((c) => ({ ...c, localServices: new Map([['backend', [standIn]]]) }));
});

afterAll(async () => {
  server?.close();
  await mesh?.close();
});

describe('TLS session resumption between sidecars', () => {
  it('resumes the session of the verified upstream on later connections, through both gateways', async () => {
    const replies: string[] = [];
    for (let i = 0; i < 3; i++) replies.push((await echoOnce(mesh.upstream, 'x')).toString());
    expect(replies[0]).toBe('resumed=false');
    expect(replies.slice(1)).toEqual(['resumed=true', 'resumed=true']);
  });

  it('makes a full handshake again after its leaf is renewed', async () => {
    const leaf = await mesh.leaf(mesh.importer, 'frontend');
    mesh.sources.frontend.update((c) => ({ ...c, leaf }));
    expect((await echoOnce(mesh.upstream, 'x')).toString()).toBe('resumed=false');
    expect((await echoOnce(mesh.upstream, 'x')).toString()).toBe('resumed=true');
  });
});
