// Unit tests of the nginx sidecar's inbound rendering: the root names it tells trust sets apart by, the
// peers it leaves out when their roots' names collide with another set's, and the data and
// configuration it renders for nginx and its njs check.
import { beforeAll, describe, expect, it } from 'vitest';
import { createRootCa, issueLeaf } from '../../ca/index.js';
import * as x509 from '../../ca/x509.js';
import { serviceIntentionsSchema } from '../../config-entries/index.js';
import { baseProxyConfig, type TestCluster, testCluster } from '../testing/two-clusters.js';
import type { ProxyConfig } from './config.js';
import {
  type NginxInboundOptions,
  renderNginxInbound,
  rootName,
  SESSION_CACHE,
  subjectDer,
} from './nginx-inbound.js';

const OPTIONS: NginxInboundOptions = {
  dir: '/run/meshpeer/sidecar-1',
  listen: { host: '127.0.0.1', port: 20000 },
  app: { host: '127.0.0.1', port: 8080 },
  leafCertFile: '/run/meshpeer/sidecar-1/leaf-0123.crt',
  leafKeyFile: '/run/meshpeer/sidecar-1/leaf-0123.key',
  connectTimeoutMs: 5000,
  accessLogs: { file: '/run/sc/connections.log', flushMs: 1000, syslogPort: 5140 },
};

interface NjsData {
  issuers: Record<string, number>;
  sets: {
    peer: string | null;
    trustDomain: string;
    rootKeys: Record<string, true> | null;
    refuse: string | null;
    detail: string | null;
  }[];
  rules: Record<string, unknown>[];
  defaultAllow: boolean;
  defaultReason: string;
}

let ours: TestCluster;
let p1: TestCluster;
let p2: TestCluster;
/** A root with our root's exact subject name and another key. */
let ourTwin: string;
/** A root whose subject differs from ours only in case and spacing. */
let ourLooseTwin: string;

beforeAll(async () => {
  ours = await testCluster('self', 'cluster-01', 'dc1');
  p1 = await testCluster('p1', 'cluster-p1', 'dc2');
  p2 = await testCluster('p2', 'cluster-p2', 'dc3');
  ourTwin = (await createRootCa({ clusterName: 'cluster-01', trustDomain: ours.root.trustDomain })).certPem;
  ourLooseTwin = (await createRootCa({ clusterName: 'CLUSTER-01 ', trustDomain: ours.root.trustDomain }))
    .certPem;
});

function config(overrides: Partial<ProxyConfig> = {}): ProxyConfig {
  return {
    ...baseProxyConfig(ours, 'api', { certPem: ours.root.certPem, keyPem: 'key' }),
    peerBundles: [p1.bundle, p2.bundle],
    inboundPeerBundles: [p1.bundle],
    defaultIntentionAction: 'deny',
    ...overrides,
  };
}

/** The MESHPEER object nginx preloads for the njs check: the one JSON data file, parsed. */
function njsData(files: Record<string, string>): NjsData {
  const found = Object.entries(files).filter(([name]) => /^inbound-data-[0-9a-f]{16}\.json$/.test(name));
  expect(found).toHaveLength(1);
  return JSON.parse((found[0] as [string, string])[1]) as NjsData;
}

function caFile(files: Record<string, string>): string {
  const found = Object.entries(files).filter(([name]) => /^inbound-ca-[0-9a-f]{16}\.pem$/.test(name));
  expect(found).toHaveLength(1);
  return (found[0] as [string, string])[1];
}

const hex = (buf: ArrayBuffer | Uint8Array) => Buffer.from(new Uint8Array(buf)).toString('hex');

describe('rootName and subjectDer', () => {
  it('read a real root’s subject name byte for byte, which is the issuer name of every leaf it issues', async () => {
    const root = new x509.X509Certificate(ours.root.certPem);
    const name = rootName(ours.root.certPem);
    expect(name.der).toBe(hex(root.subjectName.toArrayBuffer()));
    expect(name.text).toBe(root.subject);
    expect(name.text).toContain('CN=meshpeer CA cluster-01');
    const leaf = new x509.X509Certificate(
      (await issueLeaf(ours.root, { service: 'web', datacenter: 'dc1' })).certPem,
    );
    expect(hex(leaf.issuerName.toArrayBuffer())).toBe(name.der);
    // subjectDer on the raw certificate, found by walking the DER (not the library's re-encoding).
    const der = Buffer.from(root.rawData);
    const subject = subjectDer(der);
    expect(subject.toString('hex')).toBe(name.der);
    expect(der.indexOf(subject)).toBeGreaterThan(0);
  });

  it('tells roots of different clusters apart, and takes names differing in case or spaces as one', () => {
    const mine = rootName(ours.root.certPem);
    const theirs = rootName(p1.root.certPem);
    expect(theirs.der).not.toBe(mine.der);
    expect(theirs.loose).not.toBe(mine.loose);
    const twin = rootName(ourTwin);
    expect(twin.der).toBe(mine.der);
    const loose = rootName(ourLooseTwin);
    expect(loose.der).not.toBe(mine.der);
    expect(loose.loose).toBe(mine.loose);
    expect(mine.loose.split('\n')).toContain('CN=meshpeercacluster-01');
  });

  it('refuses bytes that are not a DER certificate', () => {
    expect(() => subjectDer(Buffer.from('30ff00', 'hex'))).toThrow(/not a DER certificate/);
    expect(() => subjectDer(Buffer.alloc(0))).toThrow(/not a DER certificate/);
    // A whole certificate cut short inside its TBSCertificate.
    const der = Buffer.from(new x509.X509Certificate(ours.root.certPem).rawData);
    expect(() => subjectDer(der.subarray(0, 40))).toThrow(/not a DER certificate/);
  });
});

describe('renderNginxInbound', () => {
  it('trusts every set’s roots in one file, one issuer deep, and runs the njs check before the app', () => {
    const out = renderNginxInbound(config(), OPTIONS);
    const ca = caFile(out.files);
    for (const root of [ours.root.certPem, p1.root.certPem, p2.root.certPem]) {
      expect(ca).toContain(root.trim());
    }
    const block = out.blocks.map((l) => l.trim());
    expect(block).toContain('listen 127.0.0.1:20000 ssl;');
    expect(block).toContain('ssl_verify_client on;');
    // No CA between a caller's leaf and the root that issued it.
    expect(block).toContain('ssl_verify_depth 0;');
    // Sessions resumed from the worker's own cache, not from tickets carrying them.
    expect(block).toContain(`ssl_session_cache builtin:${SESSION_CACHE};`);
    expect(block).toContain('ssl_session_tickets off;');
    expect(block).toContain('ssl_conf_command NumTickets 1;');
    expect(block).toContain(`ssl_certificate ${OPTIONS.leafCertFile};`);
    expect(block).toContain(`ssl_certificate_key ${OPTIONS.leafKeyFile};`);
    expect(block.find((l) => l.startsWith('ssl_client_certificate '))).toMatch(
      /^ssl_client_certificate \/run\/meshpeer\/sidecar-1\/inbound-ca-[0-9a-f]{16}\.pem;$/,
    );
    expect(block.indexOf('js_preread meshpeer_inbound.check;')).toBeLessThan(
      block.indexOf('proxy_pass 127.0.0.1:8080;'),
    );
    expect(block).toContain('proxy_connect_timeout 5000ms;');
    expect(block).toContain('proxy_buffer_size 64k;');
    expect(block).toContain('ssl_conf_command MinProtocol TLSv1.2;');
    expect(block).toContain('ssl_conf_command MaxProtocol TLSv1.3;');
    expect(out.stream).toContain('js_path /run/meshpeer/sidecar-1;');
    // The data is preloaded before the module that reads it.
    expect(out.stream.findIndex((l) => l.startsWith('js_preload_object '))).toBeLessThan(
      out.stream.findIndex((l) => l.startsWith('js_import ')),
    );
    expect(out.stream.find((l) => l.startsWith('js_preload_object '))).toMatch(
      /^js_preload_object MESHPEER from inbound-data-[0-9a-f]{16}\.json;$/,
    );
    expect(out.stream.find((l) => l.startsWith('js_import '))).toMatch(
      /^js_import meshpeer_inbound from inbound-[0-9a-f]{16}\.js;$/,
    );
    // Connections that ended well go to the buffered file, the rest at once to meshpeer's socket.
    expect(block).toContain(
      'access_log /run/sc/connections.log meshpeer_inbound buffer=64k flush=1000ms if=$meshpeer_log_batched;',
    );
    expect(block).toContain(
      'access_log syslog:server=127.0.0.1:5140,tag=meshpeer,nohostname meshpeer_inbound if=$meshpeer_log_prompt;',
    );
    expect(out.notes).toEqual([]);
  });

  it('maps each root’s exact name to its trust set; a peer not exported to refuses with why', () => {
    const data = njsData(renderNginxInbound(config(), OPTIONS).files);
    const set = (pem: string) => data.sets[data.issuers[rootName(pem).der] as number];
    expect(Object.keys(data.issuers)).toHaveLength(3);
    expect(set(ours.root.certPem)).toMatchObject({
      peer: null,
      trustDomain: ours.root.trustDomain,
      refuse: null,
    });
    expect(set(p1.root.certPem)).toMatchObject({
      peer: 'p1',
      trustDomain: p1.root.trustDomain,
      refuse: null,
    });
    expect(set(p2.root.certPem)).toMatchObject({
      peer: 'p2',
      trustDomain: p2.root.trustDomain,
      refuse: 'not-exported-to-peer',
      detail: 'api is not exported to peer p2',
    });
    // Each set's root key IDs, as leaves name them in their authority key ID.
    const ski = new x509.X509Certificate(p1.root.certPem).getExtension(x509.SubjectKeyIdentifierExtension);
    expect(set(p1.root.certPem)?.rootKeys).toEqual({ [ski?.keyId as string]: true });
    expect(data.defaultAllow).toBe(false);
    expect(data.defaultReason).toBe('no intention matches; the default is deny');
  });

  it('leaves out a peer whose root has our root’s name, exactly or loosely, saying so', () => {
    for (const twin of [ourTwin, ourLooseTwin]) {
      const p3 = { peerName: 'p3', trustDomain: p2.root.trustDomain, rootPems: [twin] };
      const out = renderNginxInbound(
        config({ peerBundles: [p1.bundle, p3], inboundPeerBundles: [p1.bundle, p3] }),
        OPTIONS,
      );
      expect(out.notes).toEqual([
        `peer p3: a root of its trust bundle has the same name as a root of our CA (${rootName(twin).text}), so its callers are refused`,
      ]);
      const data = njsData(out.files);
      expect(data.sets.map((s) => s.peer)).toEqual([null, 'p1']);
      // Our root's name still stands for our set; the twin's roots are not trusted at all.
      expect(data.sets[data.issuers[rootName(ours.root.certPem).der] as number]?.peer).toBeNull();
      expect(Object.keys(data.issuers)).toHaveLength(2);
      expect(caFile(out.files)).not.toContain(twin.trim());
      expect(caFile(out.files)).toContain(ours.root.certPem.trim());
    }
  });

  it('leaves out the later of two peers whose roots share a name, exported-to peers first', () => {
    // p2's bundle (not exported to) claims p1's root under its own trust domain.
    const p2Claims = { ...p2.bundle, rootPems: [p1.root.certPem] };
    const out = renderNginxInbound(config({ peerBundles: [p2Claims] }), OPTIONS);
    expect(out.notes).toEqual([
      `peer p2: a root of its trust bundle has the same name as a root of peer p1 (${rootName(p1.root.certPem).text}), so its callers are refused`,
    ]);
    const data = njsData(out.files);
    expect(data.sets.map((s) => s.peer)).toEqual([null, 'p1']);
    expect(data.sets[data.issuers[rootName(p1.root.certPem).der] as number]?.peer).toBe('p1');
  });

  it('lays intentions out in decision order, every string kept exactly through the JavaScript literal', () => {
    const hostile = `x"}; throw 1; var y = {"a\n\u2028\u2029'$\``;
    const intentions = [
      serviceIntentionsSchema.parse({
        Kind: 'service-intentions',
        Name: 'api',
        Sources: [
          { Name: 'web', Action: 'allow' },
          { Name: 'db', Peer: 'p1', Action: 'deny' },
          { Name: '*', Namespace: hostile, Action: 'deny' },
        ],
      }),
    ];
    const out = renderNginxInbound(config({ intentions, defaultIntentionAction: 'allow' }), OPTIONS);
    const data = njsData(out.files);
    expect(data.rules).toEqual([
      {
        peer: 'p1',
        namespace: 'default',
        name: 'db',
        allow: false,
        reason: 'intention peer p1/db → api says deny',
      },
      {
        partition: 'default',
        namespace: 'default',
        name: 'web',
        allow: true,
        reason: 'intention web → api says allow',
      },
      {
        partition: 'default',
        namespace: hostile,
        name: '*',
        allow: false,
        reason: 'intention * → api says deny',
      },
    ]);
    expect(data.defaultAllow).toBe(true);
    // The data is one line of JSON and the check's source is the same whatever the rules say.
    const dataText = Object.entries(out.files).find(([n]) => n.endsWith('.json'))?.[1] ?? '';
    expect(dataText.trimEnd().split('\n')).toHaveLength(1);
    const sources = Object.entries(out.files).filter(([n]) => n.endsWith('.js'));
    expect(sources.map(([, text]) => text)).toEqual([
      Object.entries(renderNginxInbound(config(), OPTIONS).files).find(([n]) => n.endsWith('.js'))?.[1],
    ]);
    expect(sources[0]?.[1]).not.toContain('throw 1');
  });

  it('names its files by content, so a change of roots or rules is a new file', () => {
    const a = Object.keys(renderNginxInbound(config(), OPTIONS).files);
    const b = Object.keys(renderNginxInbound(config({ defaultIntentionAction: 'allow' }), OPTIONS).files);
    const c = Object.keys(renderNginxInbound(config({ peerBundles: [p1.bundle] }), OPTIONS).files);
    expect(a.find((n) => n.endsWith('.json'))).not.toBe(b.find((n) => n.endsWith('.json')));
    expect(a.find((n) => n.endsWith('.pem'))).toBe(b.find((n) => n.endsWith('.pem')));
    expect(a.find((n) => n.endsWith('.pem'))).not.toBe(c.find((n) => n.endsWith('.pem')));
  });

  it('refuses paths, addresses and timeouts nginx would read otherwise than meant', () => {
    expect(() => renderNginxInbound(config(), { ...OPTIONS, dir: '/run/x; include /etc' })).toThrow(
      /dir .* must be an absolute path/,
    );
    expect(() => renderNginxInbound(config(), { ...OPTIONS, leafKeyFile: '/run/../etc/key' })).toThrow(
      /leafKeyFile/,
    );
    expect(() => renderNginxInbound(config(), { ...OPTIONS, app: { host: '127.0.0.1;', port: 1 } })).toThrow(
      /app host/,
    );
    expect(() => renderNginxInbound(config(), { ...OPTIONS, connectTimeoutMs: 0 })).toThrow(
      /connect timeout/,
    );
    const logs = OPTIONS.accessLogs;
    expect(() =>
      renderNginxInbound(config(), { ...OPTIONS, accessLogs: { ...logs, file: 'logs/x.log' } }),
    ).toThrow(/connection log/);
    expect(() => renderNginxInbound(config(), { ...OPTIONS, accessLogs: { ...logs, flushMs: 0.5 } })).toThrow(
      /flush time/,
    );
    expect(() =>
      renderNginxInbound(config(), { ...OPTIONS, accessLogs: { ...logs, syslogPort: 70000 } }),
    ).toThrow(/log port/);
    // An exported-to peer whose name could not be part of an SNI name is an error, not a rendering.
    const odd = { peerName: 'p"1', trustDomain: p1.root.trustDomain, rootPems: [p1.root.certPem] };
    expect(() => renderNginxInbound(config({ inboundPeerBundles: [odd] }), OPTIONS)).toThrow(
      /cannot be part of an SNI name/,
    );
    // A known peer with such a name is left out, with a note.
    const out = renderNginxInbound(config({ peerBundles: [odd], inboundPeerBundles: [] }), OPTIONS);
    expect(out.notes).toEqual(['peer "p"1": not a valid peer name, so its callers are refused']);
  });
});
