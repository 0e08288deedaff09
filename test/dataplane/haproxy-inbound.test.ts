import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueServerCert } from '../../src/ca/index.js';
import { signerFor } from '../../src/ca/signer.js';
import type { Endpoint } from '../../src/dataplane/endpoint.js';
import { checkHaproxyConfig, findHaproxy, HaproxyProcess } from '../../src/dataplane/haproxy-process.js';
import { renderInbound } from '../../src/dataplane/proxy/haproxy-inbound.js';
import type { ProxyConfig } from '../../src/dataplane/proxy/index.js';
import { type EchoServer, startEchoServer } from '../../src/dataplane/testing/traffic.js';
import { type TestCluster, testCluster } from '../../src/dataplane/testing/two-clusters.js';
import { freePort } from '../../src/shared/testing/free-port.js';
import {
  type Caller,
  craft,
  dialInbound,
  expectNodeVerdicts,
  type DialOptions as InboundDialOptions,
  type InboundScene,
  inboundScene,
  intentions,
  intentionsOf,
  leafOf,
  nodeVerdict,
  variedCallers,
  variedConfigs,
} from './inbound-callers.js';

// The inbound half of `meshpeer proxy --engine haproxy` against real HAProxy: the rendered crt-list,
// Lua identity check and intention rules decide who reaches an echo app, with real certificates from
// three clusters' CAs (ours, peer p1 the service is exported to, peer p2 it is not) and callers that
// dial with node:tls. Each verdict is also compared with the Node sidecar's (authenticateCaller +
// authorize) for the same caller and configuration.

/** A refused connection: where it came from, and how many log lines there were before it was dialled. */
type Refused = { allowed: false; from: string; since: number };
type Outcome = { allowed: true } | Refused;

type DialOptions = InboundDialOptions & {
  /** Receives the last session the server issued, and whether this one was resumed. */
  sessions?: { issued?: Buffer; reused?: boolean };
};

let scene: InboundScene;
let ours: TestCluster;
let p1: TestCluster;
let p2: TestCluster;
let echo: EchoServer;
let harness: InboundHarness;
let base: ProxyConfig;
let localSni: string;
let p1Sni: string;

/** HAProxy running the rendered inbound sections, its log lines kept; apply() reloads it. */
class InboundHarness {
  private constructor(
    readonly dir: string,
    readonly listen: Endpoint,
    private readonly app: Endpoint,
    private readonly haproxy: HaproxyProcess,
    readonly logs: string[],
  ) {}

  static async start(config: ProxyConfig, app: Endpoint): Promise<InboundHarness> {
    const dir = mkdtempSync(join(tmpdir(), 'meshpeer-haproxy-inbound-'));
    chmodSync(dir, 0o700);
    const listen = { host: '127.0.0.1', port: await freePort() };
    const logs: string[] = [];
    const logger = pino(
      { level: 'info' },
      {
        write(line: string) {
          logs.push(String(JSON.parse(line).msg));
        },
      },
    );
    writeConfig(dir, config, listen, app);
    await checkHaproxyConfig(findHaproxy(), join(dir, 'haproxy.cfg'));
    const haproxy = await HaproxyProcess.start({
      binary: findHaproxy(),
      configFile: join(dir, 'haproxy.cfg'),
      adminSocket: join(dir, 'admin.sock'),
      masterSocket: join(dir, 'master.sock'),
      logger,
    });
    return new InboundHarness(dir, listen, app, haproxy, logs);
  }

  async apply(config: ProxyConfig, app = this.app): Promise<void> {
    writeConfig(this.dir, config, this.listen, app);
    await checkHaproxyConfig(this.haproxy.binaryPath, join(this.dir, 'haproxy.cfg'));
    await this.haproxy.reload();
  }

  /**
   * Waits for the log line of the refused connection from `from` (127.0.0.1:<port>): ours, or HAProxy's
   * own. Only lines logged since it was dialled count: an earlier connection may have had the same port.
   */
  async logLine({ from, since }: Refused): Promise<string> {
    for (let i = 0; i < 200; i++) {
      const line = this.logs
        .slice(since)
        .find((l) => l.includes(`from=${from} `) || l.startsWith(`${from} [`));
      if (line) return line;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`no log line for ${from}; logs: ${this.logs.slice(-10).join(' | ')}`);
  }

  async stop(): Promise<void> {
    await this.haproxy.stop(0);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function writeConfig(dir: string, config: ProxyConfig, listen: Endpoint, app: Endpoint): void {
  const leafFile = join(dir, 'leaf.pem');
  writeFileSync(leafFile, `${config.leaf.certPem.trim()}\n${config.leaf.keyPem.trim()}\n`, { mode: 0o600 });
  const inbound = renderInbound(config, { dir, listen, app, leafFile, connectTimeoutMs: 2_000 });
  for (const [name, content] of Object.entries(inbound.files)) {
    writeFileSync(join(dir, name), content, { mode: 0o600 });
  }
  const lines = [
    'global',
    '  nbthread 1',
    `  stats socket ${join(dir, 'admin.sock')} mode 600 level admin expose-fd listeners`,
    '  log stdout format raw local0 info',
    ...inbound.global.map((l) => `  ${l}`),
    'defaults',
    '  mode tcp',
    '  log global',
    '  option dontlog-normal',
    '  timeout connect 5s',
    '  timeout client 24d',
    '  timeout server 24d',
    '',
    ...inbound.sections,
  ];
  writeFileSync(join(dir, 'haproxy.cfg'), `${lines.join('\n')}\n`, { mode: 0o600 });
}

/**
 * Dials the inbound listener as `caller` (checking the server against our roots),
 * sends a line, and reports whether it came back, or else where the refused connection came from.
 */
async function dial(caller: Partial<Caller> & { sni: string }, options: DialOptions = {}): Promise<Outcome> {
  const { sessions, ...dialOptions } = options;
  const since = harness.logs.length;
  const dialled = await dialInbound(harness.listen, [ours.root.certPem], caller, dialOptions);
  if (sessions) {
    if (dialled.session) sessions.issued = dialled.session;
    sessions.reused = dialled.reused;
  }
  return dialled.echoed ? { allowed: true } : { allowed: false, from: dialled.from, since };
}

async function expectRefused(caller: Partial<Caller> & { sni: string }, reason: string): Promise<string> {
  const outcome = await dial(caller);
  expect(outcome.allowed).toBe(false);
  if (outcome.allowed) return '';
  const line = await harness.logLine(outcome);
  expect(line).toContain(`refused inbound connection reason=${reason} `);
  return line;
}

/** The connection is refused during the TLS handshake, which HAProxy logs itself ("SSL ..."). */
async function expectHandshakeRefused(
  caller: Partial<Caller> & { sni: string },
  options: DialOptions = {},
): Promise<string> {
  const outcome = await dial(caller, options);
  expect(outcome.allowed).toBe(false);
  if (outcome.allowed) return '';
  const line = await harness.logLine(outcome);
  expect(line).toMatch(/ inbound\/1: SSL /);
  return line;
}

let localWeb: Caller;
let localDb: Caller;
let p1Web: Caller;
let p2Web: Caller;

beforeAll(async () => {
  findHaproxy(); // scripts/haproxy.sh (from scripts/test-deps.sh) installs it; fail loudly if it did not
  scene = await inboundScene();
  ({ ours, p1, p2, base, localSni, p1Sni, localWeb, localDb, p1Web, p2Web } = scene);
  echo = await startEchoServer();
  harness = await InboundHarness.start(base, echo.address);
});

afterAll(async () => {
  await harness?.stop();
  await echo?.close();
});

describe('HAProxy sidecar inbound', () => {
  it('lets local and exported-to peer callers through when nothing forbids it', async () => {
    await harness.apply(base);
    expect(await dial(localWeb)).toEqual({ allowed: true });
    expect(await dial(p1Web)).toEqual({ allowed: true });
    expect(nodeVerdict(base, localWeb.leaf) && nodeVerdict(base, p1Web.leaf)).toBe(true);
  });

  it('refuses a local caller an intention denies, naming reason and caller in the log', async () => {
    const config = { ...base, intentions: intentions({ Name: 'web', Action: 'deny' }) };
    await harness.apply(config);
    const line = await expectRefused(localWeb, 'intention-deny');
    expect(line).toContain(`caller=spiffe://${ours.root.trustDomain}/ns/default/dc/dc1/svc/web `);
    expect(line).toContain('peer=- ');
    expect(line).toContain('detail=intention web → api says deny');
    // A local rule does not apply to a peer's caller of the same name.
    expect(await dial(p1Web)).toEqual({ allowed: true });
    expect(await dial(localDb)).toEqual({ allowed: true });
  });

  it('lets a more precise allow win over a wildcard deny, and denies by default when told to', async () => {
    const config = {
      ...base,
      intentions: intentions({ Name: '*', Action: 'deny' }, { Name: 'web', Action: 'allow' }),
    };
    await harness.apply(config);
    expect(await dial(localWeb)).toEqual({ allowed: true });
    await expectRefused(localDb, 'intention-deny');

    await harness.apply({ ...base, defaultIntentionAction: 'deny' });
    const line = await expectRefused(localWeb, 'intention-deny');
    expect(line).toContain('detail=no intention matches; the default is deny');
    await expectRefused(p1Web, 'intention-deny');
  });

  it('applies a Peer intention to that peer’s callers only', async () => {
    const config = { ...base, intentions: intentions({ Name: 'web', Peer: 'p1', Action: 'deny' }) };
    await harness.apply(config);
    const line = await expectRefused(p1Web, 'intention-deny');
    expect(line).toContain(`caller=spiffe://${p1.root.trustDomain}/ns/default/dc/dc2/svc/web peer=p1 `);
    expect(await dial(localWeb)).toEqual({ allowed: true });
  });

  it('denies a caller whose intention has L7 permissions', async () => {
    const config = {
      ...base,
      intentions: intentions({ Name: 'web', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/' } }] }),
    };
    await harness.apply(config);
    const line = await expectRefused(localWeb, 'intention-deny');
    expect(line).toMatch(/detail=.*L7 permissions/);
  });

  it('logs an allowed connection the app refuses, naming the caller', async () => {
    await harness.apply(base, { host: '127.0.0.1', port: await freePort() });
    const outcome = await dial(p1Web);
    expect(outcome.allowed).toBe(false);
    if (outcome.allowed) return;
    const line = await harness.logLine(outcome);
    expect(line).toMatch(
      new RegExp(
        `^allowed inbound connection failed reason=- caller=spiffe://${p1.root.trustDomain}/\\S+/svc/web peer=p1 .* state=SC`,
      ),
    );
  });

  it('refuses the callers of a peer the service is not exported to', async () => {
    await harness.apply(base);
    const line = await expectRefused(p2Web, 'not-exported-to-peer');
    expect(line).toContain('peer=p2 ');
    // With our own name it is checked against our roots, which never signed it.
    await expectHandshakeRefused({ ...p2Web, sni: localSni });
    expect(nodeVerdict(base, p2Web.leaf)).toBe(false);
  });

  it('refuses a peer CA’s leaf that claims our trust domain', async () => {
    await harness.apply(base);
    const forged = await leafOf(p1, 'web', ours.root.trustDomain);
    expect(new X509Certificate(forged.certPem).checkIssued(new X509Certificate(p1.root.certPem))).toBe(true);
    const line = await expectRefused({ leaf: forged, sni: p1Sni }, 'untrusted-identity');
    expect(line).toContain(`caller=spiffe://${ours.root.trustDomain}/ns/default/dc/dc2/svc/web peer=p1 `);
    // With the local name, our roots check the chain and the handshake fails.
    await expectHandshakeRefused({ leaf: forged, sni: localSni });
    expect(nodeVerdict(base, forged)).toBe(false);
  });

  it('does not let a session resumed under another name keep the trust set it was verified by', async () => {
    await harness.apply(base);
    const forged = await leafOf(p1, 'web', ours.root.trustDomain);
    for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
      // Verified against p1's roots (then refused by the identity check), the session is kept...
      const first: DialOptions['sessions'] = {};
      expect(await dial({ leaf: forged, sni: p1Sni }, { maxVersion, sessions: first })).toMatchObject({
        allowed: false,
      });
      // ...and offered again with our own name, whose trust set is ours: it must not pass as ours.
      const again: DialOptions['sessions'] = {};
      const outcome = await dial(
        { leaf: forged, sni: localSni },
        { maxVersion, ...(first.issued ? { session: first.issued } : {}), sessions: again },
      );
      expect({ maxVersion, allowed: outcome.allowed, resumed: again.reused === true }).toEqual({
        maxVersion,
        allowed: false,
        resumed: false,
      });
    }
  });

  it('accepts the TLS versions the mesh entry allows callers, and no other', async () => {
    const tls13 = { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' } as const;
    const tls12 = { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' } as const;
    await harness.apply({ ...base, tls: { incoming: tls13, outgoing: tls12, unknownCipherSuites: [] } });
    await expectHandshakeRefused(localWeb, { maxVersion: 'TLSv1.2' });
    await expectHandshakeRefused(p1Web, { maxVersion: 'TLSv1.2' });
    expect(await dial(localWeb, { minVersion: 'TLSv1.3' })).toEqual({ allowed: true });

    const only12 = { ...tls12, ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384' };
    await harness.apply({ ...base, tls: { incoming: only12, outgoing: tls12, unknownCipherSuites: [] } });
    await expectHandshakeRefused(p1Web, { minVersion: 'TLSv1.3' });
    expect(await dial(p1Web, { maxVersion: 'TLSv1.2' })).toEqual({ allowed: true });
    const otherCipher = { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' } as const;
    await expectHandshakeRefused(p1Web, otherCipher);
    await expectHandshakeRefused(localWeb, otherCipher);
  });

  it('refuses leaves the CA would never issue: a CA certificate, two URIs, one under an intermediate', async () => {
    await harness.apply(base);
    const web = `spiffe://${ours.root.trustDomain}/ns/default/dc/dc1/svc/web`;
    const asCa = await craft(ours.root, { uris: [web], ca: true });
    let line = await expectRefused({ leaf: asCa, sni: localSni }, 'untrusted-identity');
    expect(line).toContain('detail=a CA certificate cannot be used as a workload identity');
    line = await expectRefused(
      {
        leaf: await craft(ours.root, {
          uris: [web, `spiffe://${ours.root.trustDomain}/ns/default/dc/dc1/svc/db`],
        }),
        sni: localSni,
      },
      'untrusted-identity',
    );
    expect(line).toContain('detail=the certificate must carry exactly one URI SAN, found 2');
    const intermediate = await craft(ours.root, { uris: [`spiffe://${ours.root.trustDomain}`], ca: true });
    const underIt = await craft(ours.root, { uris: [web], issuer: intermediate });
    line = await expectRefused({ leaf: underIt, sni: localSni }, 'untrusted-identity');
    expect(line).toContain('detail=the certificate was not issued by a root of its trust set itself');
    // The Node sidecar refuses all three too; a leaf crafted the ordinary way passes both.
    for (const leaf of [asCa, underIt]) expect(nodeVerdict(base, leaf)).toBe(false);
    const plain = await craft(ours.root, { uris: [web] });
    expect(nodeVerdict(base, plain)).toBe(true);
    expect(await dial({ leaf: plain, sni: localSni })).toEqual({ allowed: true });
  });

  it('judges a caller by the trust set HAProxy checked its chain against, whatever the SNI’s spelling', async () => {
    await harness.apply(base);
    // A peer CA's intermediate claiming our root's key ID, and under it a leaf claiming our trust
    // domain: only the trust domain and key ID of the set that verified it can refuse it.
    const ourKeyId = (await signerFor(ours.root)).keyId;
    const intermediate = await craft(p1.root, {
      uris: [`spiffe://${p1.root.trustDomain}`],
      ca: true,
      keyId: ourKeyId,
    });
    const web = `spiffe://${ours.root.trustDomain}/ns/default/dc/dc1/svc/web`;
    const forged = await craft(p1.root, { uris: [web], issuer: intermediate });
    for (const sni of [p1Sni, p1Sni.toUpperCase(), `${p1Sni}.`, localSni, `${localSni}.`, '']) {
      expect({ sni, ...(await dial({ leaf: forged, sni })) }).toMatchObject({ sni, allowed: false });
    }
    // Spelled differently, the names still reach the callers they belong to, or nobody.
    for (const sni of [p1Sni.toUpperCase(), `${p1Sni}.`]) {
      const outcome = await dial({ ...p1Web, sni });
      if (!outcome.allowed) expect(await harness.logLine(outcome)).toContain('SSL');
    }
    expect(await dial({ ...localWeb, sni: '' })).toEqual({ allowed: true });
  });

  it('refuses a leaf from an unknown CA, and a caller without a certificate', async () => {
    await harness.apply(base);
    const stranger = await testCluster('stranger', 'cluster-x', 'dc9');
    const leaf = await leafOf(stranger, 'web');
    await expectHandshakeRefused({ leaf, sni: localSni });
    await expectHandshakeRefused({ leaf, sni: p1Sni });
    await expectHandshakeRefused({ sni: localSni });
    await expectHandshakeRefused({ sni: p1Sni });
    // The listener still serves after those.
    expect(await dial(localWeb)).toEqual({ allowed: true });
  });

  it('refuses every caller of a peer whose trust domain another peer claims too', async () => {
    const twin = { peerName: 'p3', trustDomain: p1.root.trustDomain, rootPems: [p1.root.certPem] };
    const config = { ...base, peerBundles: [p1.bundle, p2.bundle, twin] };
    await harness.apply(config);
    await expectHandshakeRefused(p1Web);
    expect(nodeVerdict(config, p1Web.leaf)).toBe(false);
    expect(await dial(localWeb)).toEqual({ allowed: true });
  });

  it('decides as the Node sidecar does across callers and intentions', async () => {
    const other = await testCluster('other', 'cluster-o', 'dc4');
    const callers: Caller[] = [
      ...(await variedCallers(scene, other)),
      // A server's certificate: an identity no intention names, so only the default decides.
      { leaf: await issueServerCert(ours.root, { datacenter: 'dc1' }), sni: localSni },
    ];
    const configs: ProxyConfig[] = [
      ...variedConfigs(base),
      {
        ...base,
        intentions: [
          ...intentions({ Name: 'web', Namespace: '*', Action: 'deny' }),
          // A namespace no caller has, written to break out of a Lua string if it were not escaped.
          ...intentionsOf(
            '*',
            { Name: 'db', Action: 'deny' },
            { Name: 'web', Namespace: 'x"] }, os.exit(1) --[[\n', Action: 'allow' },
          ),
        ],
      },
    ];
    await expectNodeVerdicts(configs, callers, (config) => harness.apply(config), dial);
  });
});
