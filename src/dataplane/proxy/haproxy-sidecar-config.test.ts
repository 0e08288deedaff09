import { describe, expect, it } from 'vitest';
import { createRootCa, issueLeaf, newTrustDomain } from '../../ca/index.js';
import type { ProxyConfig } from './config.js';
import { renderSidecar, sameRendering } from './haproxy-sidecar-config.js';

async function config(): Promise<ProxyConfig> {
  const root = await createRootCa({ clusterName: 'c1', trustDomain: newTrustDomain() });
  const leaf = await issueLeaf(root, { service: 'web', datacenter: 'dc1' });
  return {
    service: 'web',
    datacenter: 'dc1',
    trustDomain: root.trustDomain,
    leaf: { certPem: leaf.certPem, keyPem: leaf.keyPem },
    roots: [root.certPem],
    peerBundles: [],
    inboundPeerBundles: [],
    intentions: [],
    defaultIntentionAction: 'allow',
    upstreams: [{ name: 'backend', instances: [{ host: '127.0.0.1', port: 21001 }] }],
    localGateways: [],
    meshGatewayMode: '',
    proxyConfig: {},
  };
}

const upstreams = [{ name: 'backend', bind: { host: '127.0.0.1', port: 9191 } }];
const inbound = { listen: { host: '127.0.0.1', port: 21000 }, app: { host: '127.0.0.1', port: 8080 } };

describe('renderSidecar', () => {
  it('puts our leaf in one content-named PEM that both halves use, and the runtime socket in the dir', async () => {
    const c = await config();
    const out = renderSidecar(c, { dir: '/run/sc', inbound, upstreams, connectTimeoutMs: 5000 });
    const leafName = Object.keys(out.files).find((n) => n.startsWith('leaf-')) as string;
    expect(leafName).toMatch(/^leaf-[0-9a-f]{16}\.pem$/);
    expect(out.files[leafName]).toBe(`${c.leaf.certPem.trim()}\n${c.leaf.keyPem.trim()}\n`);
    expect(out.text).toContain('  stats socket /run/sc/admin.sock mode 600 level admin expose-fd listeners');
    expect(out.text).toMatch(/\n {2}lua-load \/run\/sc\/inbound-[0-9a-f]+\.lua\n/);
    expect(out.text).toContain(`ssl crt /run/sc/${leafName} `);
    expect(out.text).toContain('frontend inbound');
    expect(out.text).toContain('frontend upstream_0');
    // The Node sidecar never cuts an idle spliced connection.
    expect(out.text).toContain('  timeout client 24d');
  });

  it('renders no inbound half for a sidecar without an app, and the same text for the same input', async () => {
    const c = await config();
    const a = renderSidecar(c, { dir: '/run/sc', upstreams, connectTimeoutMs: 5000 });
    expect(a.text).not.toContain('frontend inbound');
    expect(a.text).not.toContain('lua-load');
    expect(sameRendering(a, renderSidecar(c, { dir: '/run/sc', upstreams, connectTimeoutMs: 5000 }))).toBe(
      true,
    );
    // A new leaf (here with new roots too) is a new rendering: a reload.
    const other = renderSidecar(await config(), { dir: '/run/sc', upstreams, connectTimeoutMs: 5000 });
    expect(sameRendering(a, other)).toBe(false);
  });
});
