// The inbound half of the nginx sidecar, rendered from one ProxyConfig: one TLS listener that checks a
// caller's chain against every trust set the HAProxy sidecar would pick from by SNI (our roots; the
// bundle of each peer the service is exported to; known peers it is not exported to, to say why they
// are refused), one issuer deep, and then the njs identity check (nginx-identity-js.ts) with its data:
// which trust set each root's exact subject name stands for, the intention rules in decision order,
// the default. nginx 1.22 cannot pick CA roots by SNI, so the trust set is told by the leaf's issuer
// name instead; that is sound only if no two trust sets hold roots whose names OpenSSL could take for
// the same name, so a peer whose roots' names collide (compared loosely: attribute values without case
// or spaces) with another set's gets no set at all, and its callers fail the handshake. Pure.
import { parseCert } from '../../ca/inspect.js';
import { invalid } from '../../shared/errors.js';
import type { Endpoint } from '../endpoint.js';
import type { ProxyConfig } from './config.js';
import { type InboundTrustSet, inboundTrust } from './haproxy-inbound.js';
import { intentionRules } from './intentions.js';
import { DEFAULT_MESH_TLS } from './mesh-tls.js';
import { IDENTITY_NJS } from './nginx-identity-js.js';
import {
  accessLogDirectives,
  type NginxAccessLogs,
  nginxAddress,
  nginxTlsDirectives,
  PROXY_BUFFER_DIRECTIVE,
  safePath,
} from './nginx-syntax.js';
import { contentName } from './sidecar-dir.js';

export interface NginxFragment {
  /** Directives for the stream block (js_import, js_var, log_format, ...). */
  stream: string[];
  /** server/upstream/map blocks of the stream block. */
  blocks: string[];
  /** File name (inside the sidecar's dir) → content, written 0600 before nginx (re)loads. */
  files: Record<string, string>;
  notes: string[];
}

export interface NginxInboundOptions {
  dir: string;
  listen: Endpoint;
  app: Endpoint;
  /** Absolute paths of our leaf certificate and key (PEM), written by the caller. */
  leafCertFile: string;
  leafKeyFile: string;
  connectTimeoutMs: number;
  /** Where nginx writes its connection log lines (meshpeer reads them). */
  accessLogs: NginxAccessLogs;
}

/**
 * Inbound TLS sessions one nginx sidecar keeps for resumption. Each holds the caller's parsed leaf: about
 * 16 KiB of the worker's memory (measured: 4,096 sessions took 65 MB, 1,024 took 16 MB), so a full cache
 * costs 16 MB; one session per connection (one ticket), so it holds the last 1,024 connections' sessions.
 */
export const SESSION_CACHE = 1024;

/** The global name under which the njs check reads its data (see nginx-identity-js.ts). */
export const NJS_DATA = 'MESHPEER';

export const INBOUND_LOG_PREFIX = 'meshpeer-inbound';
const INBOUND_FORMAT =
  `${INBOUND_LOG_PREFIX} status=$status reason=$meshpeer_reason caller=$meshpeer_caller ` +
  'peer=$meshpeer_peer from=$remote_addr:$remote_port detail=$meshpeer_detail';

interface NjsSet {
  peer: string | null;
  trustDomain: string;
  rootKeys: Record<string, true> | null;
  refuse: string | null;
  detail: string | null;
}

export function renderNginxInbound(config: ProxyConfig, options: NginxInboundOptions): NginxFragment {
  const dir = safePath('dir', options.dir).replace(/\/+$/, '');
  if (!Number.isInteger(options.connectTimeoutMs) || options.connectTimeoutMs <= 0) {
    throw invalid(`connect timeout ${options.connectTimeoutMs} ms is not a positive whole number`);
  }
  const trust = inboundTrust(config);
  const notes = [...trust.notes];
  // Our set first: a peer whose roots collide with ours (or an earlier peer's) is the one left out.
  const owners = new Map<string, number>();
  const issuers: Record<string, number> = {};
  const sets: NjsSet[] = [];
  const roots: string[] = [];
  for (const set of [trust.local, ...trust.peers]) {
    const names = set.roots.map(rootName);
    const clash = names.find((n) => owners.has(n.loose));
    if (clash && set.peer !== undefined) {
      const other = sets[owners.get(clash.loose) ?? 0];
      notes.push(
        `peer ${set.peer}: a root of its trust bundle has the same name as a root of ` +
          `${other?.peer ? `peer ${other.peer}` : 'our CA'} (${clash.text}), so its callers are refused`,
      );
      continue;
    }
    const index = sets.length;
    for (const n of names) {
      owners.set(n.loose, index);
      issuers[n.der] = index;
    }
    sets.push(njsSet(set));
    roots.push(...set.roots);
  }
  const files: Record<string, string> = {};
  const addFile = (prefix: string, ext: string, content: string): string => {
    const name = contentName(prefix, ext, content);
    files[name] = content;
    return name;
  };
  const caFile = addFile('inbound-ca', 'pem', roots.map((pem) => `${pem.trim()}\n`).join(''));
  const rules = intentionRules(config.service, config.intentions).map((rule) => ({
    ...(rule.peer !== undefined ? { peer: rule.peer } : { partition: rule.partition ?? 'default' }),
    namespace: rule.namespace,
    name: rule.name,
    allow: rule.action === 'allow',
    reason: rule.reason,
  }));
  const data = {
    issuers,
    sets,
    rules,
    defaultAllow: config.defaultIntentionAction === 'allow',
    defaultReason: `no intention matches; the default is ${config.defaultIntentionAction}`,
  };
  // The data is preloaded once, when nginx loads its configuration, and shared (frozen) by every
  // connection: njs runs a module's top-level code again for each connection, so data written as a
  // literal in front of the check would be built anew each time (measured: about 20 µs per connection).
  const dataFile = addFile('inbound-data', 'json', `${JSON.stringify(data)}\n`);
  const njsFile = addFile(
    'inbound',
    'js',
    `// Generated by meshpeer proxy --engine nginx: the identity check; who may call is in the data nginx preloads as ${NJS_DATA}.\n${IDENTITY_NJS}`,
  );
  const tls = nginxTlsDirectives('ssl', config.tls?.incoming ?? DEFAULT_MESH_TLS.incoming);
  return {
    stream: [
      `js_path ${dir};`,
      `js_preload_object ${NJS_DATA} from ${dataFile};`,
      `js_import meshpeer_inbound from ${njsFile};`,
      'js_var $meshpeer_reason -;',
      'js_var $meshpeer_caller -;',
      'js_var $meshpeer_peer -;',
      'js_var $meshpeer_detail -;',
      `log_format meshpeer_inbound '${INBOUND_FORMAT}';`,
    ],
    blocks: [
      'server {',
      `  listen ${nginxAddress('listen', options.listen)} ssl;`,
      `  ssl_certificate ${safePath('leafCertFile', options.leafCertFile)};`,
      `  ssl_certificate_key ${safePath('leafKeyFile', options.leafKeyFile)};`,
      `  ssl_client_certificate ${dir}/${caFile};`,
      '  ssl_verify_client on;',
      // Leaves are issued by a root itself: the issuer name then tells the trust set. (nginx's depth
      // counts the CAs between leaf and root: 1 would let a leaf under an intermediate through.)
      '  ssl_verify_depth 0;',
      // Resumed sessions are kept as they are, in the worker's memory (OpenSSL's own cache), and found by
      // session ID or, at TLS 1.3, by a ticket that only names them: a session ticket carries the whole
      // session, caller's certificate included, and OpenSSL 3 spends most of a resumption decoding it
      // again (measured on one sidecar with resumed TLS 1.2 callers: 1.2 ms of CPU per connection
      // instead of 2.0). At most SESSION_CACHE sessions, the least recently used dropped first; a reload
      // starts an empty cache, as it starts new ticket keys. TLS 1.3 callers get one ticket per
      // connection, not OpenSSL's two: a caller keeps only its last session, and a second one would
      // take a cache entry that no one offers again.
      `  ssl_session_cache builtin:${SESSION_CACHE};`,
      '  ssl_session_tickets off;',
      '  ssl_conf_command NumTickets 1;',
      ...tls.map((line) => `  ${line}`),
      '  js_preread meshpeer_inbound.check;',
      `  proxy_pass ${nginxAddress('app', options.app)};`,
      `  proxy_connect_timeout ${options.connectTimeoutMs}ms;`,
      '  proxy_timeout 24d;',
      '  proxy_half_close on;',
      `  ${PROXY_BUFFER_DIRECTIVE}`,
      ...accessLogDirectives(options.accessLogs, 'meshpeer_inbound').map((line) => `  ${line}`),
      '}',
      '',
    ],
    files,
    notes,
  };
}

function njsSet(set: InboundTrustSet): NjsSet {
  return {
    peer: set.peer ?? null,
    trustDomain: set.trustDomain,
    rootKeys: set.rootKeys
      ? Object.fromEntries(set.rootKeys.map((key) => [key.toString('hex'), true as const]))
      : null,
    refuse: set.refuse?.reason ?? null,
    detail: set.refuse?.detail ?? null,
  };
}

/**
 * A root's subject name: its DER (hex, as the njs check reads a leaf's issuer), and a loose form
 * (attribute types with their values lowercased and without white space, in any order) under which
 * every pair of names OpenSSL's matching could take for one another compares equal.
 */
export function rootName(pem: string): { der: string; loose: string; text: string } {
  const cert = parseCert(pem);
  const der = subjectDer(Buffer.from(cert.rawData));
  const loose = cert.subjectName
    .toJSON()
    .flatMap((rdn) =>
      Object.entries(rdn).flatMap(([type, values]) =>
        values.map((v) => `${type}=${v.toLowerCase().replace(/\s+/g, '')}`),
      ),
    )
    .sort()
    .join('\n');
  return { der: der.toString('hex'), loose, text: cert.subject };
}

/** The subject name's DER inside a certificate's DER. */
export function subjectDer(der: Buffer): Buffer {
  const at = (pos: number, limit: number): { tag: number; first: number; end: number; start: number } => {
    if (pos + 2 > limit) throw invalid('a CA root is not a DER certificate');
    let len = der[pos + 1] ?? 0;
    let first = pos + 2;
    if (len >= 0x80) {
      const n = len - 0x80;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + (der[first + i] ?? 0);
      first += n;
    }
    if (first + len > limit) throw invalid('a CA root is not a DER certificate');
    return { tag: der[pos] ?? 0, start: pos, first, end: first + len };
  };
  const cert = at(0, der.length);
  const tbs = at(cert.first, cert.end);
  let pos = tbs.first;
  let field = at(pos, tbs.end);
  if (field.tag === 0xa0) field = at(field.end, tbs.end); // version
  // serial, signature algorithm, issuer, validity, subject
  for (let i = 0; i < 4; i++) {
    pos = field.end;
    field = at(pos, tbs.end);
  }
  return der.subarray(field.start, field.end);
}
