import { X509Certificate } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa, newTrustDomain } from '../../src/ca/index.js';
import * as x509 from '../../src/ca/x509.js';
import { StaticConfigSource } from '../../src/dataplane/config-source.js';
import type { Endpoint } from '../../src/dataplane/endpoint.js';
import { findNginx } from '../../src/dataplane/nginx-process.js';
import type { ProxyConfig } from '../../src/dataplane/proxy/index.js';
import { NginxSidecar } from '../../src/dataplane/proxy/nginx-sidecar.js';
import { peeredServiceSni } from '../../src/dataplane/sni.js';
import { type EchoServer, startEchoServer } from '../../src/dataplane/testing/traffic.js';
import { type TestCluster, testCluster } from '../../src/dataplane/testing/two-clusters.js';
import { metricValue } from './helpers.js';
import {
  type Caller,
  craft,
  dialInbound,
  expectNodeVerdicts,
  type DialOptions as InboundDialOptions,
  type InboundScene,
  impostorCa,
  inboundScene,
  intentions,
  leafOf,
  nodeVerdict,
  variedCallers,
  variedConfigs,
} from './inbound-callers.js';

// The inbound half of `meshpeer proxy --engine nginx`: a real NginxSidecar (a real nginx with its njs
// identity check) in front of an echo app, its configuration changed through a StaticConfigSource, with
// real certificates from three clusters' CAs (ours, peer p1 the service is exported to, peer p2 it is
// not) and callers that dial with node:tls. nginx checks a caller's chain against every trust set at
// once during the handshake and decides who it is afterwards, from the certificate alone, so every
// refusal here comes after a completed handshake. Each verdict is compared with the Node sidecar's
// (authenticateCaller + authorize) for the same caller and configuration.

interface Outcome {
  allowed: boolean;
  /** Whether the TLS handshake completed (nginx completes it and then closes a refused caller). */
  handshake: boolean;
  /** Whether the session offered was resumed. */
  resumed: boolean;
  /** The last session the server issued on this connection. */
  session?: Buffer;
  /** How many sessions (TLS 1.3 tickets) it issued. */
  sessions: number;
}

type DialOptions = Pick<InboundDialOptions, 'session' | 'maxVersion'>;

interface LogRecord {
  msg: string;
  reason?: string;
  caller?: string;
  peer?: string;
  [key: string]: unknown;
}

let scene: InboundScene;
let ours: TestCluster;
let p1: TestCluster;
let p2: TestCluster;
let echo: EchoServer;
let source: StaticConfigSource<ProxyConfig>;
let sidecar: NginxSidecar;
let listen: Endpoint;
const logs: LogRecord[] = [];
let base: ProxyConfig;
let localSni: string;
let p1Sni: string;
let p2Sni: string;
let localWeb: Caller;
let localDb: Caller;
let p1Web: Caller;
let p2Web: Caller;

/** Publishes `config` and waits until the sidecar has applied it (or logged why it could not). */
async function apply(config: ProxyConfig): Promise<void> {
  source.set(config);
  await sidecar.settled();
}

/**
 * Dials the sidecar as `caller` (checking the server against our roots), sends a line, and reports
 * whether it came back, whether the handshake completed, and the session.
 */
async function dial(caller: Partial<Caller> & { sni: string }, options: DialOptions = {}): Promise<Outcome> {
  const dialled = await dialInbound(listen, [ours.root.certPem], caller, options);
  const { echoed: allowed, handshake, session, sessions } = dialled;
  return {
    allowed,
    handshake,
    resumed: handshake && dialled.reused,
    sessions,
    ...(session ? { session } : {}),
  };
}

const refusals = () => logs.filter((r) => r.msg.startsWith('refused inbound'));

/** Waits for `count` refusal records in all (nginx sends its line as the connection ends). */
async function refusalNumber(count: number): Promise<LogRecord> {
  for (let i = 0; i < 400; i++) {
    const all = refusals();
    if (all.length >= count) return all[count - 1] as LogRecord;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no refusal logged; last records: ${JSON.stringify(logs.slice(-5))}`);
}

/** Dials as `caller`, expects it refused after the handshake, and returns the refusal logged for it. */
async function expectRefused(
  caller: Partial<Caller> & { sni: string },
  reason: string,
  options: DialOptions = {},
): Promise<LogRecord & { outcome: Outcome }> {
  const before = refusals().length;
  const counted = await metricValue(sidecar.metrics.registry, 'meshpeer_proxy_inbound_refused_total', {
    reason,
  });
  const outcome = await dial(caller, options);
  expect(outcome).toMatchObject({ allowed: false, handshake: true });
  const record = await refusalNumber(before + 1);
  expect(record.reason).toBe(reason);
  expect(
    await metricValue(sidecar.metrics.registry, 'meshpeer_proxy_inbound_refused_total', { reason }),
  ).toBe(counted + 1);
  return { ...record, outcome };
}

async function expectAllowed(caller: Caller, options: DialOptions = {}): Promise<Outcome> {
  const allowed = await metricValue(sidecar.metrics.registry, 'meshpeer_proxy_inbound_allowed_total');
  const outcome = await dial(caller, options);
  expect(outcome).toMatchObject({ allowed: true, handshake: true });
  // Counted once nginx's line for it arrives.
  for (let i = 0; i < 400; i++) {
    if ((await metricValue(sidecar.metrics.registry, 'meshpeer_proxy_inbound_allowed_total')) > allowed)
      break;
    await new Promise((r) => setTimeout(r, 10));
  }
  expect(await metricValue(sidecar.metrics.registry, 'meshpeer_proxy_inbound_allowed_total')).toBe(
    allowed + 1,
  );
  return outcome;
}

beforeAll(async () => {
  findNginx(); // scripts/test-deps.sh installs nginx and its modules; fail loudly if it did not
  scene = await inboundScene();
  ({ ours, p1, p2, base, localSni, p1Sni, p2Sni, localWeb, localDb, p1Web, p2Web } = scene);
  echo = await startEchoServer();
  const logger = pino(
    { level: 'info' },
    {
      write(line: string) {
        logs.push(JSON.parse(line) as LogRecord);
      },
    },
  );
  source = new StaticConfigSource<ProxyConfig>(base);
  sidecar = new NginxSidecar({
    config: source,
    inbound: { listen: { host: '127.0.0.1', port: 0 }, app: echo.address },
    logger,
    connectTimeoutMs: 2_000,
    // Allowed connections are counted from nginx's buffered file: flushed often here, to wait less.
    connectionLogFlushMs: 100,
  });
  listen = (await sidecar.start()).inbound as Endpoint;
});

afterAll(async () => {
  await sidecar?.stop();
  await echo?.close();
});

describe('nginx sidecar inbound', () => {
  it('lets local and exported-to peer callers through when nothing forbids it, counting them', async () => {
    await apply(base);
    await expectAllowed(localWeb);
    await expectAllowed(p1Web);
    expect(nodeVerdict(base, localWeb.leaf) && nodeVerdict(base, p1Web.leaf)).toBe(true);
  });

  it('refuses a local caller an intention denies, naming reason, caller and why in the log', async () => {
    const config = { ...base, intentions: intentions({ Name: 'web', Action: 'deny' }) };
    await apply(config);
    const record = await expectRefused(localWeb, 'intention-deny');
    expect(record).toMatchObject({
      caller: `spiffe://${ours.root.trustDomain}/ns/default/dc/dc1/svc/web`,
      msg: 'refused inbound connection: intention web → api says deny',
    });
    expect(record.peer).toBeUndefined();
    expect(nodeVerdict(config, localWeb.leaf)).toBe(false);
    // A local rule does not apply to a peer's caller of the same name, nor to another local service.
    await expectAllowed(p1Web);
    await expectAllowed(localDb);
    expect(nodeVerdict(config, p1Web.leaf)).toBe(true);
  });

  it('lets a more precise allow win over a wildcard deny, and denies by default when told to', async () => {
    const config = {
      ...base,
      intentions: intentions({ Name: '*', Action: 'deny' }, { Name: 'web', Action: 'allow' }),
    };
    await apply(config);
    await expectAllowed(localWeb);
    await expectRefused(localDb, 'intention-deny');
    expect([nodeVerdict(config, localWeb.leaf), nodeVerdict(config, localDb.leaf)]).toEqual([true, false]);

    const denying = { ...base, defaultIntentionAction: 'deny' as const };
    await apply(denying);
    const record = await expectRefused(localWeb, 'intention-deny');
    expect(record.msg).toBe('refused inbound connection: no intention matches; the default is deny');
    await expectRefused(p1Web, 'intention-deny');
    expect(nodeVerdict(denying, p1Web.leaf)).toBe(false);
  });

  it('applies a Peer intention to that peer’s callers only', async () => {
    const config = { ...base, intentions: intentions({ Name: 'web', Peer: 'p1', Action: 'deny' }) };
    await apply(config);
    const record = await expectRefused(p1Web, 'intention-deny');
    expect(record).toMatchObject({
      caller: `spiffe://${p1.root.trustDomain}/ns/default/dc/dc2/svc/web`,
      peer: 'p1',
    });
    await expectAllowed(localWeb);
    expect([nodeVerdict(config, p1Web.leaf), nodeVerdict(config, localWeb.leaf)]).toEqual([false, true]);
  });

  it('denies a caller whose intention has L7 permissions', async () => {
    const config = {
      ...base,
      intentions: intentions({ Name: 'web', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/' } }] }),
    };
    await apply(config);
    const record = await expectRefused(localWeb, 'intention-deny');
    expect(record.msg).toMatch(/L7 permissions/);
    expect(nodeVerdict(config, localWeb.leaf)).toBe(false);
  });

  it('refuses the callers of a peer the service is not exported to, whatever SNI they send', async () => {
    await apply(base);
    for (const sni of [p2Sni, localSni, p1Sni]) {
      const record = await expectRefused({ ...p2Web, sni }, 'not-exported-to-peer');
      expect(record).toMatchObject({
        peer: 'p2',
        msg: 'refused inbound connection: api is not exported to peer p2',
      });
    }
    expect(nodeVerdict(base, p2Web.leaf)).toBe(false);
  });

  it('refuses a peer CA’s leaf that claims our trust domain, whatever SNI it sends', async () => {
    await apply(base);
    const forged = await leafOf(p1, 'web', ours.root.trustDomain);
    expect(new X509Certificate(forged.certPem).checkIssued(new X509Certificate(p1.root.certPem))).toBe(true);
    for (const sni of [p1Sni, localSni, localSni.toUpperCase(), '']) {
      const record = await expectRefused({ leaf: forged, sni }, 'untrusted-identity');
      expect(record).toMatchObject({
        caller: `spiffe://${ours.root.trustDomain}/ns/default/dc/dc2/svc/web`,
        peer: 'p1',
      });
      expect(record.msg).toContain(`names trust domain ${ours.root.trustDomain}, not ${p1.root.trustDomain}`);
    }
    expect(nodeVerdict(base, forged)).toBe(false);
  });

  it('refuses leaves the CA would never issue: a CA certificate, two URIs, one under an intermediate', async () => {
    await apply(base);
    const web = `spiffe://${ours.root.trustDomain}/ns/default/dc/dc1/svc/web`;
    const asCa = await craft(ours.root, { uris: [web], ca: true });
    let record = await expectRefused({ leaf: asCa, sni: localSni }, 'untrusted-identity');
    expect(record.msg).toBe(
      'refused inbound connection: a CA certificate cannot be used as a workload identity',
    );
    const twoUris = await craft(ours.root, {
      uris: [web, `spiffe://${ours.root.trustDomain}/ns/default/dc/dc1/svc/db`],
    });
    record = await expectRefused({ leaf: twoUris, sni: localSni }, 'untrusted-identity');
    expect(record.msg).toBe(
      'refused inbound connection: the certificate must carry exactly one URI SAN, found 2',
    );
    // An intermediate our root issued, and a leaf it signed: nginx checks one issuer deep.
    const intermediate = await craft(ours.root, { uris: [`spiffe://${ours.root.trustDomain}`], ca: true });
    const underIt = await craft(ours.root, { uris: [web], issuer: intermediate });
    await expectRefused({ leaf: underIt, sni: localSni }, 'tls-handshake');
    for (const leaf of [asCa, twoUris, underIt]) expect(nodeVerdict(base, leaf)).toBe(false);
    // A leaf crafted the ordinary way passes both.
    const plain = await craft(ours.root, { uris: [web] });
    expect(nodeVerdict(base, plain)).toBe(true);
    await expectAllowed({ leaf: plain, sni: localSni });
  });

  it('refuses a leaf from a CA that takes our root’s name with another key', async () => {
    await apply(base);
    const ourRoot = new x509.X509Certificate(ours.root.certPem);
    const ourKeyId = ourRoot.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId as string;
    const impostor = await impostorCa(ourRoot.subjectName);
    const web = `spiffe://${ours.root.trustDomain}/ns/default/dc/dc1/svc/web`;
    // With its own key ID, and claiming our root's; sent with and without the impostor in the chain.
    const leaves = [
      await craft(ours.root, { uris: [web], issuer: impostor }),
      await craft(ours.root, { uris: [web], issuer: impostor, authorityKeyId: ourKeyId }),
    ];
    for (const leaf of [
      ...leaves,
      ...leaves.map((l) => ({
        ...l,
        certPem: l.certPem.split(/(?<=-----END CERTIFICATE-----)/)[0] as string,
      })),
    ]) {
      expect(new X509Certificate(leaf.certPem).issuer).toBe(new X509Certificate(ours.root.certPem).subject);
      await expectRefused({ leaf, sni: localSni }, 'tls-handshake');
      expect(nodeVerdict(base, leaf)).toBe(false);
    }
    await expectAllowed(localWeb);
  });

  it('refuses a leaf under a peer CA’s intermediate named as our root, whatever key ID it claims', async () => {
    await apply(base);
    const ourRoot = new x509.X509Certificate(ours.root.certPem);
    const ourKeyId = ourRoot.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId as string;
    const web = `spiffe://${ours.root.trustDomain}/ns/default/dc/dc1/svc/web`;
    // p1's root (trusted, for p1's callers) signs an intermediate that takes our root's name: a leaf
    // under it names our root as its issuer, which is how the njs check tells our callers.
    for (const intermediateKeyId of [ourKeyId, undefined]) {
      const intermediate = await craft(p1.root, {
        uris: [`spiffe://${p1.root.trustDomain}`],
        ca: true,
        subject: ourRoot.subjectName.toJSON(),
        ...(intermediateKeyId ? { keyId: intermediateKeyId } : {}),
      });
      for (const authorityKeyId of [ourKeyId, '', undefined]) {
        const leaf = await craft(p1.root, {
          uris: [web],
          issuer: intermediate,
          ...(authorityKeyId !== undefined ? { authorityKeyId } : {}),
        });
        expect(new X509Certificate(leaf.certPem).issuer).toBe(new X509Certificate(ours.root.certPem).subject);
        for (const sni of [localSni, p1Sni]) {
          const outcome = await dial({ leaf, sni });
          expect({ intermediateKeyId, authorityKeyId, sni, allowed: outcome.allowed }).toEqual({
            intermediateKeyId,
            authorityKeyId,
            sni,
            allowed: false,
          });
        }
        expect(nodeVerdict(base, leaf)).toBe(false);
      }
    }
    await expectAllowed(localWeb);
  });

  it('judges a resumed session again from its certificate, whatever name it is resumed under', async () => {
    await apply(base);
    const forged = await leafOf(p1, 'web', ours.root.trustDomain);
    const resumedAny: boolean[] = [];
    for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
      // A forged caller, refused, offers its session again with our own name...
      const first = await expectRefused({ leaf: forged, sni: p1Sni }, 'untrusted-identity', { maxVersion });
      for (const sni of [localSni, p1Sni]) {
        const again = await expectRefused({ leaf: forged, sni }, 'untrusted-identity', {
          maxVersion,
          ...(first.outcome.session ? { session: first.outcome.session } : {}),
        });
        expect(again.peer).toBe('p1');
        resumedAny.push(again.outcome.resumed);
      }
      // ...and p1's caller, allowed as p1, is still p1 under our name: a Peer deny applies to it.
      const allowed = await expectAllowed(p1Web, { maxVersion });
      const resumed = await expectAllowed(
        { ...p1Web, sni: localSni },
        { maxVersion, ...(allowed.session ? { session: allowed.session } : {}) },
      );
      resumedAny.push(resumed.resumed);
    }
    const config = { ...base, intentions: intentions({ Name: 'web', Peer: 'p1', Action: 'deny' }) };
    await apply(config);
    for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
      const first = await expectRefused(p1Web, 'intention-deny', { maxVersion });
      const again = await expectRefused({ ...p1Web, sni: localSni }, 'intention-deny', {
        maxVersion,
        ...(first.outcome.session ? { session: first.outcome.session } : {}),
      });
      expect(again).toMatchObject({ peer: 'p1', caller: expect.stringContaining(p1.root.trustDomain) });
      resumedAny.push(again.outcome.resumed);
    }
    // nginx resumes sessions (tickets), so the check really ran on resumed sessions.
    expect(resumedAny).toContain(true);
  });

  it('refuses the callers of a peer whose root has our root’s name, and says why', async () => {
    const twin = await createRootCa({ clusterName: 'cluster-01', trustDomain: ours.root.trustDomain });
    expect(new X509Certificate(twin.certPem).subject).toBe(new X509Certificate(ours.root.certPem).subject);
    const p3Domain = newTrustDomain();
    const p3 = { peerName: 'p3', trustDomain: p3Domain, rootPems: [twin.certPem] };
    const config = { ...base, peerBundles: [p1.bundle, p2.bundle, p3], inboundPeerBundles: [p1.bundle, p3] };
    const notesBefore = logs.length;
    await apply(config);
    const note = logs
      .slice(notesBefore)
      .find((r) =>
        r.msg.startsWith('peer p3: a root of its trust bundle has the same name as a root of our CA'),
      );
    expect(note?.msg).toMatch(/so its callers are refused$/);
    const p3Sni = peeredServiceSni({ service: 'api', peer: 'p3', trustDomain: ours.root.trustDomain });
    const p3Web = await leafOf({ root: twin, datacenter: 'dc5' }, 'web', p3Domain);
    // Its own callers, and a leaf of its root claiming our trust domain: neither gets in.
    const claimingOurs = await leafOf({ root: twin, datacenter: 'dc5' }, 'web');
    for (const leaf of [p3Web, claimingOurs]) {
      for (const sni of [p3Sni, localSni]) await expectRefused({ leaf, sni }, 'tls-handshake');
    }
    expect(nodeVerdict(config, claimingOurs)).toBe(false);
    // Everyone else is served as before.
    await expectAllowed(localWeb);
    await expectAllowed(p1Web);
  });

  it('keeps hostile strings inside the njs data and the log: the caller is refused, the sidecar serves on', async () => {
    const td = ours.root.trustDomain;
    const nasty = [
      `spiffe://${td}/ns/default/dc/dc1/svc/we"b`,
      `spiffe://${td}/ns/default/dc/dc1/svc/web'; ngx.exit(0); '`,
      `spiffe://${td}/ns/default/dc/dc1/svc/web\nmeshpeer-inbound status=200 reason=- caller=x`,
      `spiffe://${td}/ns/$remote_addr/dc/dc1/svc/web`,
      `spiffe://${td}"; MESHPEER.defaultAllow = true; "/ns/default/dc/dc1/svc/web`,
    ];
    // Intentions that would allow anything if a string broke out of the njs literal.
    const config = {
      ...base,
      defaultIntentionAction: 'deny' as const,
      intentions: intentions(
        { Name: 'web', Namespace: `x"}]; MESHPEER.defaultAllow = true; [{"a`, Action: 'allow' },
        { Name: `it's`, Action: 'allow' },
        { Name: 'db', Action: 'allow' },
      ),
    };
    await apply(config);
    for (const uri of nasty) {
      const leaf = await craft(ours.root, { uris: [uri] });
      const record = await expectRefused({ leaf, sni: localSni }, 'untrusted-identity');
      // One word per field: the caller's spaces and control characters reach the log as '?', the rest
      // exactly as it was.
      expect(record.caller).toBe(uri.replace(/[\s\p{Cc}]/gu, '?'));
      expect(nodeVerdict(config, leaf)).toBe(false);
    }
    await expectAllowed(localDb);
    await expectRefused(localWeb, 'intention-deny');

    // An exported-to peer whose name cannot be part of an SNI name: the new configuration is refused
    // and the sidecar keeps serving the last one.
    const odd = {
      peerName: `p1"; } server { listen 1; } #`,
      trustDomain: p1.root.trustDomain,
      rootPems: [p1.root.certPem],
    };
    const before = logs.length;
    await apply({ ...config, inboundPeerBundles: [odd] });
    expect(logs.slice(before).map((r) => r.msg)).toContain(
      'could not apply the new configuration to nginx; it keeps serving the previous one',
    );
    await expectAllowed(localDb);
    // A known peer with such a name is left out with a note; its callers fail the chain check.
    await apply({
      ...config,
      peerBundles: [p1.bundle, { ...odd, trustDomain: p2.root.trustDomain, rootPems: [p2.root.certPem] }],
    });
    await expectRefused(p2Web, 'tls-handshake');
    await expectAllowed(localDb);
  });

  it('applies the mesh entry’s TLS.Incoming versions to callers, resuming sessions under them', async () => {
    const only13 = { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' } as const;
    const only12 = { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' } as const;
    await apply({ ...base, tls: { incoming: only13, outgoing: only12, unknownCipherSuites: [] } });
    const tls12 = await dial(localWeb, { maxVersion: 'TLSv1.2' });
    expect(tls12).toMatchObject({ allowed: false, handshake: false });
    const first = await expectAllowed(localWeb);
    const again = await expectAllowed(localWeb, first.session ? { session: first.session } : {});
    expect(again.resumed).toBe(true);
    // One ticket per connection, full or resumed: a caller keeps only its last session, so a second
    // would only take a place in the worker's session cache.
    expect([first.sessions, again.sessions]).toEqual([1, 1]);
    await apply({ ...base, tls: { incoming: only12, outgoing: only12, unknownCipherSuites: [] } });
    expect(await expectAllowed(localWeb, { maxVersion: 'TLSv1.2' })).toMatchObject({ allowed: true });
    await apply(base);
    await expectAllowed(localWeb);
  });

  it('refuses a leaf from an unknown CA and a caller without a certificate, and serves on', async () => {
    await apply(base);
    const stranger = await testCluster('stranger', 'cluster-x', 'dc9');
    const leaf = await leafOf(stranger, 'web');
    await expectRefused({ leaf, sni: localSni }, 'tls-handshake');
    await expectRefused({ sni: localSni }, 'tls-handshake');
    await expectAllowed(localWeb);
  });

  it('decides as the Node sidecar does across callers and intentions', async () => {
    const other = await testCluster('other', 'cluster-o', 'dc4');
    const callers: Caller[] = [
      ...(await variedCallers(scene, other)),
      // p1's caller sending our own name: nginx goes by the certificate, as the Node sidecar does.
      { leaf: p1Web.leaf, sni: localSni },
    ];
    await expectNodeVerdicts(variedConfigs(base), callers, apply, dial);
  });

  it('reads every form of SPIFFE ID as the Node sidecar does, odd paths included', async () => {
    const td = ours.root.trustDomain;
    const paths = [
      'ns/default/dc/dc1/svc/web',
      'ap/part1/ns/team/dc/dc1/svc/web',
      'agent/server/dc/dc1',
      'ns/../dc/dc1/svc/web',
      'ap/./ns/default/dc/dc1/svc/web',
      'ns/default/dc/-dc1/svc/web',
      'ns/default/dc/dc1/svc/web/more',
      'ns/default/dc/dc1/svc/',
      'ap/part1/ns/default/dc/dc1/svc/..',
      'ns/default/dc/dc1/service/web',
    ];
    const callers: Caller[] = [];
    for (const path of paths) {
      callers.push({ leaf: await craft(ours.root, { uris: [`spiffe://${td}/${path}`] }), sni: localSni });
    }
    const configs: ProxyConfig[] = [
      { ...base, defaultIntentionAction: 'allow', intentions: [] },
      {
        ...base,
        defaultIntentionAction: 'deny',
        intentions: intentions({ Name: 'web', Partition: 'part1', Namespace: 'team', Action: 'allow' }),
      },
    ];
    await expectNodeVerdicts(configs, callers, apply, dial);
  });
});
