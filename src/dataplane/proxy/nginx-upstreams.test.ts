// Unit tests of the nginx sidecar's upstream rendering: the upstream group with later targets as
// backups in order, the SNI name per dialled address, the trust file when targets span trust sets,
// targets nginx cannot tell apart, and host names resolved before rendering.
import { describe, expect, it } from 'vitest';
import { hostNamesOf, type NginxUpstreamOptions, renderNginxUpstreams } from './nginx-upstreams.js';
import {
  upstreamConfig as config,
  failover,
  imported,
  local,
  OUR_ROOT,
  PEER_SNI,
  peerLocal,
  sidecars,
  THEIR_ROOT,
} from './testing/upstream-fixtures.js';

const LOCAL_SNI = 'backend.default.dc2.internal.ours.consul';
const OPTIONS: NginxUpstreamOptions = {
  dir: '/run/sc',
  leafCertFile: '/run/sc/leaf-1.crt',
  leafKeyFile: '/run/sc/leaf-1.key',
  connectTimeoutMs: 5000,
  accessLogs: { file: '/run/sc/connections.log', flushMs: 1000, syslogPort: 5140 },
  resolved: new Map(),
};
const trimmed = (blocks: string[]) => blocks.map((l) => l.trim());
/** The lines of the block that opens with `head` (up to its closing brace). */
function block(blocks: string[], head: string): string[] {
  const lines = trimmed(blocks);
  const start = lines.indexOf(head);
  expect(start, `no block ${head}`).toBeGreaterThanOrEqual(0);
  return lines.slice(start + 1, lines.indexOf('}', start));
}
const directive = (lines: string[], name: string) => lines.find((l) => l.startsWith(`${name} `));

describe('renderNginxUpstreams', () => {
  it('sends to the first target’s endpoints, later targets as backups in order', () => {
    const out = renderNginxUpstreams(config(), [local], OPTIONS);
    expect(block(out.blocks, 'upstream upstream_0 {')).toEqual([
      'server 10.0.0.2:21000 max_fails=1 fail_timeout=1s;',
      'server 10.0.0.3:21000 max_fails=1 fail_timeout=1s;',
      'server 192.0.2.1:8443 max_fails=1 fail_timeout=1s backup;',
    ]);
    expect(out.upstreams[0]?.servers.map((s) => [s.name, s.target, s.role, s.route])).toEqual([
      ['t0e0', 'backend', 'primary', 'direct'],
      ['t0e1', 'backend', 'primary', 'direct'],
      ['t1e0', 'backend (peer cluster-01)', 'failover', 'remote-gateway'],
    ]);
    const server = block(out.blocks, 'server {');
    expect(server).toContain('listen 127.0.0.1:9191;');
    expect(server).toContain('proxy_pass upstream_0;');
    expect(server).toContain('proxy_ssl on;');
    expect(server).toContain('proxy_ssl_verify on;');
    expect(server).toContain('proxy_ssl_verify_depth 1;');
    expect(server).toContain('proxy_ssl_certificate /run/sc/leaf-1.crt;');
    expect(server).toContain('proxy_ssl_certificate_key /run/sc/leaf-1.key;');
    expect(server).toContain('proxy_connect_timeout 5000ms;');
    expect(server).toContain('proxy_buffer_size 64k;');
    expect(out.stream).toEqual([expect.stringMatching(/^log_format meshpeer_upstream '/)]);
  });

  it('sends one SNI name as a literal when every address has it', () => {
    const out = renderNginxUpstreams(config({ resolvers: [] }), [local], OPTIONS);
    const server = block(out.blocks, 'server {');
    expect(directive(server, 'proxy_ssl_name')).toBe(`proxy_ssl_name ${LOCAL_SNI};`);
    expect(trimmed(out.blocks).some((l) => l.startsWith('map '))).toBe(false);
    expect(out.notes).toEqual([]);
  });

  it('picks the SNI name by the address dialled when targets have different names', () => {
    const out = renderNginxUpstreams(config(), [local], OPTIONS);
    expect(block(out.blocks, 'map $upstream_addr $upstream_0_sni {')).toEqual([
      // Evaluated again for each address tried (nginx keeps a map's value for the connection otherwise).
      'volatile;',
      `default ${LOCAL_SNI};`,
      // $upstream_addr lists every address tried: the last one is the one being dialled.
      `"~(^|, )192\\.0\\.2\\.1:8443$" ${PEER_SNI};`,
    ]);
    expect(directive(block(out.blocks, 'server {'), 'proxy_ssl_name')).toBe(
      'proxy_ssl_name $upstream_0_sni;',
    );
    const pattern = /(^|, )192\.0\.2\.1:8443$/;
    expect(pattern.test('10.0.0.2:21000, 10.0.0.3:21000, 192.0.2.1:8443')).toBe(true);
    expect(pattern.test('192.0.2.1:8443, 10.0.0.2:21000')).toBe(false);
    expect(pattern.test('192.0.2.11:8443')).toBe(false);
  });

  it('trusts the union of the roots when targets span trust sets, and says so', () => {
    const out = renderNginxUpstreams(config(), [local], OPTIONS);
    const file = directive(block(out.blocks, 'server {'), 'proxy_ssl_trusted_certificate');
    const name = /^proxy_ssl_trusted_certificate \/run\/sc\/(upstream-ca-[0-9a-f]{16}\.pem);$/.exec(
      file ?? '',
    );
    expect(name).not.toBeNull();
    expect(out.files).toEqual({ [name?.[1] as string]: `${OUR_ROOT}\n${THEIR_ROOT}\n` });
    expect(out.notes).toEqual([
      'upstream backend: its targets live in 2 trust sets; nginx checks each of them against all of their roots (and its own SNI name)',
    ]);
    // One trust set: its roots alone, no note.
    const single = renderNginxUpstreams(config({ resolvers: [] }), [local], OPTIONS);
    expect(Object.values(single.files)).toEqual([`${OUR_ROOT}\n`]);
    expect(single.notes).toEqual([]);
  });

  it('skips a target that shares an address with an earlier target under another SNI name, saying why', () => {
    // The peer's gateway answers at a local sidecar's address: nginx could not tell which name to send.
    const clash = config({
      upstreams: [
        { name: 'backend', instances: sidecars },
        { ...imported, instances: [sidecars[1] as { host: string; port: number }] },
      ],
    });
    const out = renderNginxUpstreams(clash, [local], OPTIONS);
    expect(block(out.blocks, 'upstream upstream_0 {')).toEqual([
      'server 10.0.0.2:21000 max_fails=1 fail_timeout=1s;',
      'server 10.0.0.3:21000 max_fails=1 fail_timeout=1s;',
    ]);
    expect(out.upstreams[0]?.rejected).toEqual([
      {
        target: 'backend (peer cluster-01)',
        detail:
          'it is reached at 10.0.0.3:21000, as an earlier target with another SNI name, and the nginx engine sends one name per address (the haproxy engine can)',
      },
    ]);
    // Only our roots are trusted, and only our name sent, as only our target is left.
    expect(Object.values(out.files)).toEqual([`${OUR_ROOT}\n`]);
    expect(directive(block(out.blocks, 'server {'), 'proxy_ssl_name')).toBe(`proxy_ssl_name ${LOCAL_SNI};`);
    expect(out.notes).toEqual([]);
  });

  it('dials the addresses a host name resolved to, and rejects a target whose host names did not resolve', () => {
    const named = config({
      upstreams: [
        { name: 'backend', instances: [{ host: 'backend.internal', port: 21000 }] },
        { ...imported, instances: [{ host: 'gone.example', port: 8443 }] },
      ],
    });
    expect(hostNamesOf(named, [local])).toEqual(['backend.internal', 'gone.example']);
    const resolved = new Map([['backend.internal', ['10.0.0.5', '::1']]]);
    const out = renderNginxUpstreams(named, [local], { ...OPTIONS, resolved });
    expect(block(out.blocks, 'upstream upstream_0 {')).toEqual([
      'server 10.0.0.5:21000 max_fails=1 fail_timeout=1s;',
      'server [::1]:21000 max_fails=1 fail_timeout=1s;',
    ]);
    expect(out.upstreams[0]?.rejected).toEqual([
      { target: 'backend (peer cluster-01)', detail: 'its host names (gone.example) did not resolve' },
    ]);
    expect(trimmed(out.blocks).join('\n')).not.toContain('gone.example');
    // IP addresses are not looked up.
    expect(hostNamesOf(config(), [local])).toEqual([]);
  });

  it('closes connections at once when no target can take them', () => {
    const out = renderNginxUpstreams(config({ upstreams: [], resolvers: [] }), [local], OPTIONS);
    expect(trimmed(out.blocks).some((l) => l.startsWith('upstream '))).toBe(false);
    const server = block(out.blocks, 'server {');
    expect(server).toContain('return "";');
    expect(server.some((l) => l.startsWith('proxy_pass'))).toBe(false);
    expect(out.upstreams[0]?.servers).toEqual([]);
  });

  it('never lets a peer’s SNI name or host into the configuration unchecked', () => {
    for (const sni of ['x; proxy_ssl_verify off', 'a b', 'name#comment', "q'uote"]) {
      const out = renderNginxUpstreams(
        config({ upstreams: [{ ...imported, sni }], resolvers: [] }),
        [peerLocal],
        OPTIONS,
      );
      expect(out.upstreams[0]?.servers, sni).toEqual([]);
      expect(out.blocks.join('\n')).not.toContain(sni);
      expect(out.upstreams[0]?.rejected[0]?.detail).toMatch(/is not a DNS name/);
    }
    const badHost = renderNginxUpstreams(
      config({
        upstreams: [{ ...imported, instances: [{ host: 'h;\n  server x', port: 1 }] }],
        resolvers: [],
      }),
      [peerLocal],
      OPTIONS,
    );
    expect(badHost.upstreams[0]?.servers).toEqual([]);
    expect(badHost.blocks.join('\n')).not.toContain('server x');
  });

  it('takes the dial timeout from the resolver, else Proxy.Config, else the default', () => {
    const timeout = (c: ProxyConfig) =>
      directive(block(renderNginxUpstreams(c, [local], OPTIONS).blocks, 'server {'), 'proxy_connect_timeout');
    expect(timeout(config())).toBe('proxy_connect_timeout 5000ms;');
    expect(timeout(config({ proxyConfig: { connect_timeout_ms: 1200 } }))).toBe(
      'proxy_connect_timeout 1200ms;',
    );
    const resolvers = [{ ...(failover[0] as (typeof failover)[0]), ConnectTimeout: '750ms' }];
    expect(timeout(config({ resolvers, proxyConfig: { connect_timeout_ms: 1200 } }))).toBe(
      'proxy_connect_timeout 750ms;',
    );
  });
});
