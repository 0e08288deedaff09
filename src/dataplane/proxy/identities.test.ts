import { beforeAll, describe, expect, it } from 'vitest';
import { createRootCa, issueLeaf, newTrustDomain, type RootCa, type TrustBundle } from '../../ca/index.js';
import { authenticateCaller, CallerRefused } from './identities.js';

// The caller's peer comes from its certificate alone: trust domain -> the peer whose bundle carries
// it; accepted only if the service is exported to that peer, and verified against that bundle only.

let ours: RootCa;
let two: RootCa;
let three: RootCa;
let bundleTwo: TrustBundle;
let bundleThree: TrustBundle;

beforeAll(async () => {
  ours = await createRootCa({ clusterName: 'cluster-01', trustDomain: newTrustDomain() });
  two = await createRootCa({ clusterName: 'cluster-02', trustDomain: newTrustDomain() });
  three = await createRootCa({ clusterName: 'cluster-03', trustDomain: newTrustDomain() });
  bundleTwo = { peerName: 'cluster-02', trustDomain: two.trustDomain, rootPems: [two.certPem] };
  bundleThree = { peerName: 'cluster-03', trustDomain: three.trustDomain, rootPems: [three.certPem] };
});

/** `secret` in cluster-01, which knows `peerBundles` and is exported to `exportedTo` only. */
const secret = (exportedTo: TrustBundle[], peerBundles = [bundleTwo, bundleThree]) => ({
  service: 'secret',
  trustDomain: ours.trustDomain,
  roots: [ours.certPem],
  peerBundles,
  inboundPeerBundles: exportedTo,
});

const leaf = async (root: RootCa, service = 'frontend', datacenter = 'dc2'): Promise<string> =>
  (await issueLeaf(root, { service, datacenter })).certPem;

function refusal(fn: () => unknown): CallerRefused {
  try {
    fn();
  } catch (err) {
    if (err instanceof CallerRefused) return err;
    throw err;
  }
  throw new Error('expected the caller to be refused');
}

describe('authenticateCaller', () => {
  it('derives the peer from the trust domain of an exported-to peer', async () => {
    const caller = authenticateCaller(await leaf(three), secret([bundleThree]));
    expect(caller.peerName).toBe('cluster-03');
    expect(caller.identity).toMatchObject({ service: 'frontend', trustDomain: three.trustDomain });
  });

  it('refuses a valid certificate of a peer the service is not exported to', async () => {
    const pem = await leaf(two);
    const err = refusal(() => authenticateCaller(pem, secret([bundleThree])));
    expect(err.reason).toBe('not-exported-to-peer');
    expect(err.message).toMatch(/secret is not exported to peer cluster-02/);
    // Exported to nobody: every peer is refused.
    expect(refusal(() => authenticateCaller(pem, secret([]))).reason).toBe('not-exported-to-peer');
  });

  it('keeps local callers working, against our roots only', async () => {
    const local = authenticateCaller(await leaf(ours, 'web', 'dc1'), secret([]));
    expect(local.peerName).toBeUndefined();
    expect(local.identity).toMatchObject({ service: 'web', trustDomain: ours.trustDomain });
    // A peer's root cannot vouch for our trust domain, even with its bundle claiming it.
    const impostor = await createRootCa({ clusterName: 'evil', trustDomain: ours.trustDomain });
    const forged = await leaf(impostor, 'web', 'dc1');
    const claiming = { ...bundleTwo, trustDomain: ours.trustDomain, rootPems: [impostor.certPem] };
    expect(() => authenticateCaller(forged, secret([claiming], [claiming]))).toThrow(
      /not signed by any trusted root/,
    );
  });

  it("verifies a peer's caller against that peer's bundle only", async () => {
    // cluster-02's key signs a certificate in cluster-03's trust domain: it names cluster-03,
    // whose roots did not sign it, though cluster-02's roots (also trusted) did.
    const forged = await leaf({ ...two, trustDomain: three.trustDomain });
    expect(() => authenticateCaller(forged, secret([bundleTwo, bundleThree]))).toThrow(
      /not signed by any trusted root/,
    );
  });

  it('refuses a trust domain no peer carries, or that two peers claim', async () => {
    const twoLeaf = await leaf(two);
    const stranger = await createRootCa({ clusterName: 'x', trustDomain: newTrustDomain() });
    const strangerLeaf = await leaf(stranger);
    expect(refusal(() => authenticateCaller(strangerLeaf, secret([bundleTwo]))).reason).toBe(
      'untrusted-identity',
    );
    // cluster-03's bundle claims cluster-02's trust domain: the certificate identifies neither peer,
    // even for a service exported to cluster-02 only.
    const twin = { ...bundleThree, trustDomain: two.trustDomain };
    const err = refusal(() => authenticateCaller(twoLeaf, secret([bundleTwo], [bundleTwo, twin])));
    expect(err.reason).toBe('untrusted-identity');
    expect(err.message).toMatch(/claimed by several peers \(cluster-02, cluster-03\)/);
  });
});
