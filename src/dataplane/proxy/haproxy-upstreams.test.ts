import { describe, expect, it } from 'vitest';
import { renderUpstreams, trustFile } from './haproxy-upstreams.js';
import { routeReport } from './route-report.js';
import {
  upstreamConfig as config,
  imported,
  local,
  OUR_ROOT,
  peerLocal,
  PEER_SNI as SNI,
  THEIR_ROOT,
} from './testing/upstream-fixtures.js';

const options = { dir: '/run/sc', leafFile: '/run/sc/leaf-1.pem', connectTimeoutMs: 5000 };
const serverLines = (text: string[]) => text.filter((l) => l.trim().startsWith('server '));

describe('renderUpstreams', () => {
  it('listens on the bind and sends to the first target, later targets as backups, each checked as the Node sidecar checks it', () => {
    const out = renderUpstreams(config(), [local], options);
    expect(out.sections).toContain('frontend upstream_0');
    expect(out.sections).toContain('  bind 127.0.0.1:9191');
    expect(out.sections).toContain('  default_backend upstream_0');
    const ours = trustFile([OUR_ROOT]);
    const theirs = trustFile([THEIR_ROOT]);
    expect(serverLines(out.sections)).toEqual([
      `  server t0e0 10.0.0.2:21000 ssl crt /run/sc/leaf-1.pem ca-file /run/sc/${ours} verify required sni str(backend.default.dc2.internal.ours.consul) ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.3 check no-check-ssl inter 30s fastinter 1s downinter 1s fall 1 rise 1 observe layer4 error-limit 1 on-error mark-down`,
      `  server t0e1 10.0.0.3:21000 ssl crt /run/sc/leaf-1.pem ca-file /run/sc/${ours} verify required sni str(backend.default.dc2.internal.ours.consul) ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.3 check no-check-ssl inter 30s fastinter 1s downinter 1s fall 1 rise 1 observe layer4 error-limit 1 on-error mark-down`,
      `  server t1e0 192.0.2.1:8443 ssl crt /run/sc/leaf-1.pem ca-file /run/sc/${theirs} verify required sni str(${SNI}) ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.3 check no-check-ssl inter 30s fastinter 1s downinter 1s fall 1 rise 1 observe layer4 error-limit 1 on-error mark-down backup`,
    ]);
    // Each trust set is a file of its own: the peer's servers never chain to our roots, nor ours to theirs.
    expect(out.files).toEqual({ [ours]: `${OUR_ROOT}\n`, [theirs]: `${THEIR_ROOT}\n` });
    expect(out.sections).toContain('  retries 2');
    expect(out.sections).toContain('  option redispatch 1');
    expect(out.upstreams[0]?.servers.map((s) => [s.name, s.target, s.role, s.route])).toEqual([
      ['t0e0', 'backend', 'primary', 'direct'],
      ['t0e1', 'backend', 'primary', 'direct'],
      ['t1e0', 'backend (peer cluster-01)', 'failover', 'remote-gateway'],
    ]);
  });

  it('dials with the mesh entry’s outgoing TLS versions and ciphers (Envoy’s TLS 1.2 by default)', () => {
    const tls = {
      incoming: { minVersion: 'TLSv1.2' as const, maxVersion: 'TLSv1.3' as const },
      outgoing: {
        minVersion: 'TLSv1.2' as const,
        maxVersion: 'TLSv1.3' as const,
        ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256',
      },
      unknownCipherSuites: [],
    };
    const [line] = serverLines(renderUpstreams(config({ tls }), [local], options).sections);
    expect(line).toContain(' ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.3 ciphers ECDHE-ECDSA-AES128-GCM-SHA256 ');
    const old = { ...tls, outgoing: { minVersion: 'TLSv1' as const, maxVersion: 'TLSv1.1' as const } };
    const [oldLine] = serverLines(renderUpstreams(config({ tls: old }), [local], options).sections);
    expect(oldLine).toContain(' ssl-min-ver TLSv1.0 ssl-max-ver TLSv1.1 ');
  });

  it('checks health only where there is another server to go to', () => {
    const single = config({
      upstreams: [{ name: 'backend', instances: [{ host: '10.0.0.2', port: 21000 }] }],
      resolvers: [],
    });
    const [line] = serverLines(renderUpstreams(single, [local], options).sections);
    expect(line).toMatch(/ssl-max-ver TLSv1\.3$/);
    expect(renderUpstreams(single, [local], options).sections).not.toContain('  option redispatch 1');
  });

  it('names trust files by content, so new roots get a new file', () => {
    expect(trustFile([OUR_ROOT])).toMatch(/^upstream-ca-[0-9a-f]{16}\.pem$/);
    expect(trustFile([OUR_ROOT])).not.toBe(trustFile([THEIR_ROOT]));
  });

  it('takes the dial timeout from the resolver, else Proxy.Config, else the default', () => {
    const timeout = (c: ProxyConfig) =>
      renderUpstreams(c, [local], options).sections.find((l) => l.includes('timeout connect'));
    expect(timeout(config())).toBe('  timeout connect 5000');
    expect(timeout(config({ proxyConfig: { connect_timeout_ms: 1200 } }))).toBe('  timeout connect 1200');
    const resolvers = [{ Kind: 'service-resolver' as const, Name: 'backend', ConnectTimeout: '750ms' }];
    expect(timeout(config({ resolvers, proxyConfig: { connect_timeout_ms: 1200 } }))).toBe(
      '  timeout connect 750',
    );
  });

  it('renders a backend without servers when no target can take connections, and says why', () => {
    const out = renderUpstreams(config({ upstreams: [], resolvers: [] }), [local], options);
    expect(serverLines(out.sections)).toEqual([]);
    expect(out.sections).toContain('backend upstream_0');
    const report = routeReport(out.upstreams[0] as never, true);
    expect(report.records[0]).toMatchObject({
      level: 'warn',
      msg: 'upstream backend: no target can take new connections: backend: upstream backend has no passing instance',
    });
  });

  it('never lets an SNI name or host from a peer into the configuration unchecked', () => {
    const evil = [
      'x) verify none\n  server evil 203.0.113.9:1',
      'a b',
      'name#comment',
      `${'a'.repeat(64)}.consul`,
    ];
    for (const sni of evil) {
      const out = renderUpstreams(
        config({ upstreams: [{ ...imported, sni }], resolvers: [] }),
        [peerLocal],
        options,
      );
      expect(serverLines(out.sections), sni).toEqual([]);
      expect(out.sections.join('\n')).not.toContain('evil');
      expect(out.upstreams[0]?.rejected[0]?.detail).toMatch(/is not a DNS name/);
    }
    const badHost = renderUpstreams(
      config({
        upstreams: [{ ...imported, instances: [{ host: 'h\n  server x', port: 1 }] }],
        resolvers: [],
      }),
      [peerLocal],
      options,
    );
    expect(serverLines(badHost.sections)).toEqual([]);
    expect(routeReport(badHost.upstreams[0] as never, true).records[0]?.msg).toMatch(
      /no target can take new connections: backend \(peer cluster-01\): its endpoint .* is not host:port/,
    );
  });

  it('names host-name endpoints for HAProxy to resolve at start, and brackets IPv6', () => {
    const out = renderUpstreams(
      config({
        upstreams: [
          {
            name: 'backend',
            instances: [
              { host: 'backend.internal', port: 1 },
              { host: '::1', port: 2 },
            ],
          },
        ],
        resolvers: [],
      }),
      [local],
      options,
    );
    expect(serverLines(out.sections).map((l) => l.split(' ssl ')[0])).toEqual([
      '  server t0e0 backend.internal:1 init-addr libc,none',
      '  server t0e1 [::1]:2',
    ]);
  });

  it('reports failing over, as the Node sidecar does', () => {
    const out = renderUpstreams(config({ upstreams: [imported] }), [local], options);
    const report = routeReport(out.upstreams[0] as never, true);
    expect(report.failingOver).toBe('backend (peer cluster-01)');
    expect(report.records[0]?.msg).toBe(
      'upstream backend: new connections fail over to backend (peer cluster-01) via remote-gateway: backend: upstream backend has no passing instance',
    );
  });
});
