import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa } from '../../src/ca/index.js';
import { echoTransfer } from '../../src/dataplane/testing/traffic.js';
import { startTwoClusters, type TwoClusters } from '../../src/dataplane/testing/two-clusters.js';
import { plainHex, tlsAttempt } from './helpers.js';

let mesh: TwoClusters;

beforeAll(async () => {
  mesh = await startTwoClusters();
});

afterAll(async () => {
  await mesh?.close();
});

const MB = 1024 * 1024;

describe('certificate renewal', () => {
  it('renews both sidecars mid-transfer without dropping a byte, and new connections use the new leaves', async () => {
    const oldBackendSerial = mesh.backend.leafSerial;
    const [backendLeaf, frontendLeaf] = await Promise.all([
      mesh.leaf(mesh.exporter, 'backend'),
      mesh.leaf(mesh.importer, 'frontend'),
    ]);
    let renewed = false;
    const result = await echoTransfer(mesh.upstream, 60 * MB, {
      onProgress: (received) => {
        if (!renewed && received > 10 * MB) {
          renewed = true;
          mesh.sources.backend.update((c) => ({ ...c, leaf: backendLeaf }));
          mesh.sources.frontend.update((c) => ({ ...c, leaf: frontendLeaf }));
        }
      },
    });
    expect(renewed).toBe(true);
    expect(result.received).toBe(60 * MB);
    expect(result.receivedSha256).toBe(result.sentSha256);

    expect(mesh.backend.leafSerial).toBe(backendLeaf.serialNumber);
    expect(mesh.backend.leafSerial).not.toBe(oldBackendSerial);
    const attempt = await tlsAttempt(mesh.exporterGateway.address, {
      servername: mesh.backendSni,
      ca: [mesh.exporter.root.certPem],
      leaf: frontendLeaf,
      payload: 'renewed',
    });
    expect(attempt.data).toBe('renewed');
    expect(plainHex(attempt.serverSerial)).toBe(plainHex(backendLeaf.serialNumber));
  });

  it('keeps connections made before a root rotation, and trusts the new root for new ones', async () => {
    const next = await createRootCa({
      clusterName: 'cluster-01-next',
      trustDomain: mesh.exporter.root.trustDomain,
    });
    const backendLeaf = await mesh.leaf({ ...mesh.exporter, root: next }, 'backend');
    // The order a CA rotation follows: every party trusts both roots first, then leaves move over.
    const roots = [mesh.exporter.root.certPem, next.certPem];
    let rotated = false;
    const live = echoTransfer(mesh.upstream, 20 * MB, {
      onProgress: (received) => {
        if (rotated || received < 4 * MB) return;
        rotated = true;
        mesh.sources.frontend.update((c) => ({
          ...c,
          peerBundles: c.peerBundles.map((b) =>
            b.peerName === 'cluster-01' ? { ...b, rootPems: roots } : b,
          ),
        }));
        mesh.sources.backend.update((c) => ({ ...c, roots, leaf: backendLeaf }));
      },
    });
    const result = await live;
    expect(rotated).toBe(true);
    expect(result.receivedSha256).toBe(result.sentSha256);
    const after = await echoTransfer(mesh.upstream, MB);
    expect(after.receivedSha256).toBe(after.sentSha256);
    expect(mesh.backend.leafSerial).toBe(backendLeaf.serialNumber);
  });
});
