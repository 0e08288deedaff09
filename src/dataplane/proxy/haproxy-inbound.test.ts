import { beforeAll, describe, expect, it } from 'vitest';
import { createRootCa } from '../../ca/index.js';
import * as x509 from '../../ca/x509.js';
import { serviceIntentionsSchema } from '../../config-entries/index.js';
import type { ProxyConfig } from './config.js';
import { type InboundOptions, inboundTrust, lua, renderInbound } from './haproxy-inbound.js';

const OURS = 'aaaaaaaa-0000-4000-8000-000000000001.consul';
const P1 = 'bbbbbbbb-0000-4000-8000-000000000002.consul';
const P2 = 'cccccccc-0000-4000-8000-000000000003.consul';
const roots = new Map<string, string>();
/** A real root certificate per name (the renderer reads their key IDs). */
const pem = (name: string): string => roots.get(name) ?? `(no root ${name})`;

beforeAll(async () => {
  for (const name of ['leaf', 'ours', 'next', 'p1', 'p2', 'p3', 'p4', 'p9']) {
    const root = await createRootCa({ clusterName: name, trustDomain: `${name}.consul` });
    roots.set(name, root.certPem);
  }
});

function config(overrides: Partial<ProxyConfig> = {}): ProxyConfig {
  return {
    service: 'api',
    datacenter: 'dc1',
    trustDomain: OURS,
    leaf: { certPem: pem('leaf'), keyPem: 'key' },
    roots: [pem('ours')],
    peerBundles: [
      { peerName: 'p1', trustDomain: P1, rootPems: [pem('p1')] },
      { peerName: 'p2', trustDomain: P2, rootPems: [pem('p2')] },
    ],
    inboundPeerBundles: [{ peerName: 'p1', trustDomain: P1, rootPems: [pem('p1')] }],
    intentions: [],
    defaultIntentionAction: 'deny',
    upstreams: [],
    localGateways: [],
    meshGatewayMode: '',
    proxyConfig: {},
    ...overrides,
  };
}

const OPTIONS: InboundOptions = {
  dir: '/run/meshpeer/sidecar-1',
  listen: { host: '127.0.0.1', port: 20000 },
  app: { host: '127.0.0.1', port: 8080 },
  leafFile: '/run/meshpeer/sidecar-1/leaf-0123.pem',
  connectTimeoutMs: 5000,
};

function fileNamed(files: Record<string, string>, pattern: RegExp): [string, string] {
  const found = Object.entries(files).filter(([name]) => pattern.test(name));
  expect(found).toHaveLength(1);
  return found[0] as [string, string];
}

/** The crt-list as [ca file content, SNI] per line. */
function crtLines(rendered: ReturnType<typeof renderInbound>): [string, string][] {
  const [, list] = fileNamed(rendered.files, /^inbound-[0-9a-f]{16}\.crt-list$/);
  return list
    .trim()
    .split('\n')
    .map((line) => {
      const match = /^(\S+) \[ca-file (\S+) verify required [^\]]*\] (\S+)$/.exec(line);
      expect(match?.[1]).toBe(OPTIONS.leafFile);
      const caName = (match?.[2] ?? '').replace(`${OPTIONS.dir}/`, '');
      return [(rendered.files[caName] ?? '(missing)').trim(), match?.[3] ?? ''];
    });
}

/** Undoes lua(): the bytes a Lua string literal stands for. */
function unlua(literal: string): string {
  expect(literal).toMatch(/^"[^"\\\n]*(?:\\\d{3}[^"\\\n]*)*"$/);
  const bytes: number[] = [];
  const body = literal.slice(1, -1);
  for (let i = 0; i < body.length; i++) {
    if (body[i] === '\\') {
      bytes.push(Number(body.slice(i + 1, i + 4)));
      i += 3;
    } else bytes.push(body.charCodeAt(i));
  }
  return Buffer.from(bytes).toString('utf8');
}

describe('renderInbound', () => {
  it('checks our callers against our roots by default, and each exported-to peer’s against its own', () => {
    const rendered = renderInbound(config(), OPTIONS);
    expect(crtLines(rendered)).toEqual([
      [pem('ours').trim(), `api.default.dc1.internal.${OURS}`],
      [pem('p1').trim(), `api.default.default.p1.external.${OURS}`],
      // Known but not exported to: its callers get through the handshake only to be refused by name.
      [pem('p2').trim(), `api.default.default.p2.external.${OURS}`],
    ]);
    const [luaName, source] = fileNamed(rendered.files, /^inbound-[0-9a-f]{16}\.lua$/);
    expect(rendered.global).toContain(`lua-load ${OPTIONS.dir}/${luaName}`);
    expect(source).toContain(`[${lua(`api.default.default.p1.external.${OURS}`)}] = { peer = ${lua('p1')}, `);
    expect(source).toMatch(/\[[^\]]*p2[^\]]*\] = \{ peer = "p2", .*refuse = "not-exported-to-peer"/);
    expect(source).toContain('default_allow = false');
    // Each set names its roots' key IDs, which the leaves they issue carry as authority key IDs.
    const keyId = (name: string) =>
      Buffer.from(
        new x509.X509Certificate(pem(name)).getExtension(x509.SubjectKeyIdentifierExtension)?.keyId ?? '',
        'hex',
      );
    expect(source).toContain(
      `default_line = { trust_domain = ${lua(OURS)}, root_keys = { [${lua(keyId('ours'))}] = true } }`,
    );
    expect(source).toContain(`root_keys = { [${lua(keyId('p1'))}] = true }`);
    expect(source).toContain('core.register_action("meshpeer_inbound"');
  });

  it('renders a frontend that runs the check and a backend for the app', () => {
    const rendered = renderInbound(config(), OPTIONS);
    const [listName] = fileNamed(rendered.files, /\.crt-list$/);
    expect(rendered.sections).toEqual(
      expect.arrayContaining([
        'frontend inbound',
        `  bind 127.0.0.1:20000 ssl crt-list ${OPTIONS.dir}/${listName} no-tls-tickets`,
        '  tcp-request content lua.meshpeer_inbound',
        '  tcp-request content reject unless { var(txn.meshpeer_allowed) -m bool }',
        '  timeout connect 5000',
        '  server app 127.0.0.1:8080',
      ]),
    );
    expect(rendered.global).toContain('tune.ssl.cachesize 0');
    // Every rendered path is in the private dir; the names change with the content.
    for (const name of Object.keys(rendered.files)) expect(name).toMatch(/^[a-z]+-[0-9a-f]{16}\.[a-z-]+$/);
    const again = renderInbound(config({ roots: [pem('ours'), pem('next')] }), OPTIONS);
    expect(Object.keys(again.files)).not.toEqual(Object.keys(rendered.files));
  });

  it('gives no trust set to a peer whose trust domain is ours or another peer’s too', () => {
    const twin = { peerName: 'p3', trustDomain: P1, rootPems: [pem('p3')] };
    const liar = { peerName: 'p4', trustDomain: OURS, rootPems: [pem('p4')] };
    const trust = inboundTrust(
      config({
        peerBundles: [config().peerBundles[0], twin, liar] as ProxyConfig['peerBundles'],
        inboundPeerBundles: [config().inboundPeerBundles[0], liar] as ProxyConfig['inboundPeerBundles'],
      }),
    );
    expect(trust.peers).toEqual([]);
    expect(trust.notes.join('\n')).toMatch(/p1: its trust domain .* is claimed by several peers \(p1, p3\)/);
    expect(trust.notes.join('\n')).toMatch(/p4: its trust domain .* is our own/);
  });

  it('lays intentions out for Lua in decision order, every string escaped', () => {
    const entry = serviceIntentionsSchema.parse({
      Kind: 'service-intentions',
      Name: 'api',
      Sources: [
        { Name: 'web', Action: 'allow' },
        { Name: '*', Namespace: 'x"] }, os.exit(1) --[[\n', Action: 'deny' },
        { Name: 'db', Peer: 'p1', Action: 'deny' },
      ],
    });
    const rendered = renderInbound(config({ intentions: [entry], defaultIntentionAction: 'allow' }), OPTIONS);
    const [, source] = fileNamed(rendered.files, /\.lua$/);
    const rules = source.slice(source.indexOf('rules = {'), source.indexOf('default_allow'));
    expect(
      rules
        .split('\n')
        .filter((l) => l.includes('{ '))
        .map((l) => l.trim()),
    ).toEqual([
      // Equal precedence: the deny comes first.
      `{ peer = "p1", namespace = "default", name = "db", allow = false, reason = ${lua('intention peer p1/db → api says deny')} },`,
      `{ partition = "default", namespace = "default", name = "web", allow = true, reason = ${lua('intention web → api says allow')} },`,
      `{ partition = "default", namespace = ${lua('x"] }, os.exit(1) --[[\n')}, name = "*", allow = false, reason = ${lua('intention * → api says deny')} },`,
    ]);
    expect(source).not.toContain('os.exit(1) --[[');
    expect(source).toContain('default_allow = true');
  });

  it('escapes any string into a Lua literal that stands for exactly it', () => {
    for (const value of [
      'plain-name_1.x',
      'quote " back \\ nl \n cr \r nul \0',
      ']]',
      'spiffe://a/b',
      'é → ✓',
    ]) {
      const literal = lua(value);
      expect(literal).toMatch(/^"[A-Za-z0-9 ._:/*@,()=\\-]*"$/);
      expect(unlua(literal)).toBe(value);
    }
  });

  it('refuses names outside the SNI and SPIFFE grammar instead of rendering them', () => {
    const bad: [string, Partial<ProxyConfig>][] = [
      ['service', { service: 'api ssl crt /etc/x' }],
      ['service', { service: 'api\nfrontend evil' }],
      ['service', { service: 'api.other' }],
      ['namespace', { namespace: 'a]b' }],
      ['partition', { partition: 'a b' }],
      ['datacenter', { datacenter: 'dc1\n' }],
      ['trust domain', { trustDomain: 'Ours.consul' }],
      [
        'peer name',
        { inboundPeerBundles: [{ peerName: 'p1 [verify none]', trustDomain: P1, rootPems: [pem('p1')] }] },
      ],
      [
        'trust domain',
        { inboundPeerBundles: [{ peerName: 'p9', trustDomain: 'x"y', rootPems: [pem('p9')] }] },
      ],
      ['roots', { roots: [] }],
    ];
    for (const [what, overrides] of bad) {
      expect(() => renderInbound(config(overrides), OPTIONS), what).toThrow(
        new RegExp(what.split(' ')[0] ?? ''),
      );
    }
    expect(() => renderInbound(config(), { ...OPTIONS, dir: '/tmp/my dir' })).toThrow(/dir/);
    expect(() => renderInbound(config(), { ...OPTIONS, leafFile: 'leaf.pem' })).toThrow(/leafFile/);
    expect(() => renderInbound(config(), { ...OPTIONS, leafFile: '/run/../etc/leaf.pem' })).toThrow(
      /leafFile/,
    );
    expect(() => renderInbound(config(), { ...OPTIONS, app: { host: 'a b', port: 1 } })).toThrow(/app host/);
    expect(() => renderInbound(config(), { ...OPTIONS, connectTimeoutMs: 0 })).toThrow(/timeout/);
  });

  it('refuses roots that are not certificates: ours with an error, a peer’s by leaving it out', () => {
    const junk = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
    expect(() => renderInbound(config({ roots: [pem('ours'), junk] }), OPTIONS)).toThrow(/our CA roots/);
    const rendered = renderInbound(
      config({ inboundPeerBundles: [{ peerName: 'p1', trustDomain: P1, rootPems: [junk] }] }),
      OPTIONS,
    );
    expect(crtLines(rendered).map(([, sni]) => sni)).toEqual([
      `api.default.dc1.internal.${OURS}`,
      `api.default.default.p2.external.${OURS}`,
    ]);
    expect(rendered.notes.join('\n')).toMatch(/peer p1: the trust bundle of peer p1 hold/);
  });

  it('leaves out a known peer with an unusable name it does not export to, saying so', () => {
    const rendered = renderInbound(
      config({ peerBundles: [{ peerName: 'P2!', trustDomain: P2, rootPems: [pem('p2')] }] }),
      OPTIONS,
    );
    expect(crtLines(rendered).map(([, sni]) => sni)).toEqual([
      `api.default.dc1.internal.${OURS}`,
      `api.default.default.p1.external.${OURS}`,
    ]);
    expect(rendered.notes.join('\n')).toMatch(/P2!.*not a valid peer name/);
  });

  it('puts the mesh entry’s incoming TLS versions and ciphers on every line', () => {
    const incoming = {
      minVersion: 'TLSv1' as const,
      maxVersion: 'TLSv1.2' as const,
      ciphers: 'AES128-SHA:AES256-SHA',
    };
    const tls = { incoming, outgoing: incoming, unknownCipherSuites: [] };
    const [, list] = fileNamed(renderInbound(config({ tls }), OPTIONS).files, /\.crt-list$/);
    const lines = list.trim().split('\n');
    expect(lines).toHaveLength(3);
    for (const line of lines) {
      expect(line).toContain(
        'verify required ssl-min-ver TLSv1.0 ssl-max-ver TLSv1.2 ciphers AES128-SHA:AES256-SHA]',
      );
    }
    const defaults = fileNamed(renderInbound(config(), OPTIONS).files, /\.crt-list$/)[1];
    expect(defaults).toContain('ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.3]');
    const evil = { ...tls, incoming: { ...incoming, ciphers: 'ALL] * ' } };
    expect(() => renderInbound(config({ tls: evil }), OPTIONS)).toThrow(/cipher/);
  });
});
