import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigEntryOfKind } from '../../config-entries/index.js';
import { baseProxyConfig, leafFor, type TestCluster, testCluster } from '../testing/two-clusters.js';
import type { ProxyConfig } from './config.js';
import { meshTlsFrom } from './mesh-tls.js';
import { TlsMaterial } from './tls-contexts.js';

// Real handshakes on loopback between the inbound options of one sidecar and the client context of
// another: which TLS version and cipher the mesh entry's TLS settings lead to.

let cluster: TestCluster;
const servers: tls.Server[] = [];

beforeAll(async () => {
  cluster = await testCluster('cluster-01', 'cluster-01', 'dc1');
});

afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

async function material(service: string, tlsSettings: ProxyConfig['tls']): Promise<TlsMaterial> {
  return new TlsMaterial({
    ...baseProxyConfig(cluster, service, await leafFor(cluster, service)),
    ...(tlsSettings ? { tls: tlsSettings } : {}),
  });
}

/** Handshakes the caller's client context with the callee's inbound options; protocol and cipher. */
async function handshake(
  caller: TlsMaterial,
  callee: TlsMaterial,
): Promise<{ protocol: string; cipher: string }> {
  const server = tls.createServer({ ...callee.serverOptions(), requestCert: true, rejectUnauthorized: true });
  servers.push(server);
  server.on('secureConnection', (socket) => socket.end());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const socket = tls.connect({
    host: '127.0.0.1',
    port: (server.address() as AddressInfo).port,
    secureContext: caller.clientContext('', [cluster.root.certPem]),
    checkServerIdentity: () => undefined,
  });
  await once(socket, 'secureConnect');
  const result = { protocol: socket.getProtocol() ?? '', cipher: socket.getCipher().standardName };
  socket.destroy();
  return result;
}

const mesh = (tlsEntry: unknown) =>
  meshTlsFrom(parseConfigEntryOfKind('mesh', { Kind: 'mesh', Name: 'mesh', TLS: tlsEntry }));

describe('TLS between sidecars', () => {
  it('negotiates TLS 1.3 without a mesh entry', async () => {
    const result = await handshake(await material('web', undefined), await material('api', undefined));
    expect(result.protocol).toBe('TLSv1.3');
  });

  it('negotiates TLS 1.2 once the mesh entry holds callers to it', async () => {
    const settings = mesh({ Outgoing: { TLSMaxVersion: 'TLSv1_2' } });
    const result = await handshake(await material('web', settings), await material('api', undefined));
    expect(result.protocol).toBe('TLSv1.2');
  });

  it('uses the configured TLS 1.2 cipher suite', async () => {
    const settings = mesh({
      Outgoing: { TLSMaxVersion: 'TLSv1_2', CipherSuites: ['TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305'] },
    });
    const result = await handshake(await material('web', settings), await material('api', undefined));
    expect(result).toEqual({ protocol: 'TLSv1.2', cipher: 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256' });
  });

  it("refuses a caller below the accepting side's minimum", async () => {
    const callee = await material('api', mesh({ Incoming: { TLSMinVersion: 'TLSv1_3' } }));
    const caller = await material('web', mesh({ Outgoing: { TLSMaxVersion: 'TLSv1_2' } }));
    await expect(handshake(caller, callee)).rejects.toThrow(/version|protocol/i);
  });
});
