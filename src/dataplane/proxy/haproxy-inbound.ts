// The inbound half of the HAProxy sidecar, rendered from one ProxyConfig: the crt-list that picks the
// trust set a caller's chain is checked against by the SNI it sent (our roots by default; a peer's
// roots for that peer's name of this service), the Lua identity check with its data (which trust
// domain each trust set stands for, the intention rules in decision order, the default), and the
// frontend/backend pair that runs the check and hands allowed connections to the app. Every name that
// reaches HAProxy's configuration or the Lua source is checked against the SNI/SPIFFE grammar first,
// and every string in the Lua source is escaped byte by byte. Pure: config in, text and files out.
import { isIP } from 'node:net';
import { assertDatacenter, assertTrustDomain, ownerOfTrustDomain, type TrustBundle } from '../../ca/index.js';
import { parseCert } from '../../ca/inspect.js';
import { isSniLabel } from '../../ca/sni.js';
import * as x509 from '../../ca/x509.js';
import { invalid } from '../../shared/errors.js';
import { type Endpoint, formatEndpoint } from '../endpoint.js';
import { localServiceSni, peeredServiceSni } from '../sni.js';
import type { ProxyConfig } from './config.js';
import { IDENTITY_LUA } from './haproxy-identity-lua.js';
import { haproxyTlsOptions } from './haproxy-tls.js';
import type { CallerRefusal } from './identities.js';
import { intentionRules } from './intentions.js';
import { DEFAULT_MESH_TLS } from './mesh-tls.js';
import { contentName } from './sidecar-dir.js';

export interface HaproxySection {
  /** Lines for HAProxy's global section (e.g. lua-load). */
  global: string[];
  /** Lines of frontend/backend sections, ready to append after `defaults`. */
  sections: string[];
  /** Files to write into the sidecar's private dir before HAProxy (re)loads: name → content (0600). */
  files: Record<string, string>;
  /** What the configuration leaves out and why (peers whose callers are refused), for the log. */
  notes: string[];
}

export interface InboundOptions {
  /** Absolute; every path rendered lives here. */
  dir: string;
  /** The inbound listener (mutual TLS). */
  listen: Endpoint;
  /** The local app (plain TCP). */
  app: Endpoint;
  /** Absolute path of our leaf certificate and key (PEM), written by the caller. */
  leafFile: string;
  connectTimeoutMs: number;
}

/** One crt-list line: callers sending `sni` are checked against `roots` and belong to `peer`. */
export interface InboundTrustSet {
  /** Lowercase SNI name; the local line is also the default for any other name. */
  sni: string;
  /** Unset for our own callers. */
  peer?: string;
  trustDomain: string;
  roots: readonly string[];
  /**
   * The roots' subject key IDs, which a leaf they issued names as its authority key ID; unset if a
   * root has none (then, as in OpenSSL's chain check, key IDs are not compared).
   */
  rootKeys?: Buffer[];
  /** Set when every caller of this set is refused after the handshake (a peer we do not export to). */
  refuse?: { reason: CallerRefusal; detail: string };
}

export interface InboundTrust {
  local: InboundTrustSet;
  peers: InboundTrustSet[];
  notes: string[];
}

export const INBOUND_FRONTEND = 'inbound';
export const INBOUND_BACKEND = 'inbound_app';
export const LUA_ACTION = 'meshpeer_inbound';

const DEFAULT = 'default';
// SPIFFE path segments (spiffe.ts) that are also one DNS label (sni.ts): what a name of ours must be.
const SEGMENT = /^[A-Za-z0-9._-]+$/;
// Paths go into HAProxy's configuration and crt-list unquoted.
const SAFE_PATH = /^\/[A-Za-z0-9._/-]+$/;
const HOST = /^[A-Za-z0-9.:-]+$/;

const LOG_FORMAT =
  '%[var(txn.meshpeer_event)] reason=%[var(txn.meshpeer_refusal)] caller=%[var(txn.meshpeer_caller)] ' +
  'peer=%[var(txn.meshpeer_peer)] detail=%[var(txn.meshpeer_detail)] from=%ci:%cp state=%ts';

export function renderInbound(config: ProxyConfig, options: InboundOptions): HaproxySection {
  const dir = safePath('dir', options.dir).replace(/\/+$/, '');
  const leafFile = safePath('leafFile', options.leafFile);
  if (!Number.isInteger(options.connectTimeoutMs) || options.connectTimeoutMs <= 0) {
    throw invalid(`connect timeout ${options.connectTimeoutMs} ms is not a positive whole number`);
  }
  const trust = inboundTrust(config);
  const files: Record<string, string> = {};
  const addFile = (prefix: string, ext: string, content: string): string => {
    const name = contentName(prefix, ext, content);
    files[name] = content;
    return `${dir}/${name}`;
  };

  const tls = haproxyTlsOptions(config.tls?.incoming ?? DEFAULT_MESH_TLS.incoming);
  const crtLine = (set: InboundTrustSet): string => {
    const caFile = addFile('ca', 'pem', pemFile(set.roots));
    return `${leafFile} [ca-file ${caFile} verify required ${tls}] ${set.sni}\n`;
  };
  // The first line is HAProxy's default: a caller whose SNI matches no line is checked against ours.
  const crtList = [trust.local, ...trust.peers].map(crtLine).join('');
  const crtListFile = addFile('inbound', 'crt-list', crtList);
  const luaFile = addFile('inbound', 'lua', `${luaData(config, trust)}\n${IDENTITY_LUA}`);

  return {
    global: [
      `lua-load ${luaFile}`,
      // No resumed sessions inbound (no cache here, no tickets on the bind): a session verified under
      // one trust set (a peer's roots, picked by that peer's SNI) and resumed with another name would
      // skip the chain check, and the identity check would judge it by the wrong trust set.
      'tune.ssl.cachesize 0',
    ],
    sections: [
      `frontend ${INBOUND_FRONTEND}`,
      `  bind ${address('listen', options.listen)} ssl crt-list ${crtListFile} no-tls-tickets`,
      // Refused connections say why and who; allowed ones are logged only if they fail (option
      // dontlog-normal), e.g. the app refused them (state SC).
      `  log-format "${LOG_FORMAT}"`,
      `  tcp-request content lua.${LUA_ACTION}`,
      '  tcp-request content reject unless { var(txn.meshpeer_allowed) -m bool }',
      `  default_backend ${INBOUND_BACKEND}`,
      '',
      `backend ${INBOUND_BACKEND}`,
      `  timeout connect ${options.connectTimeoutMs}`,
      `  server app ${address('app', options.app)}`,
      '',
    ],
    files,
    notes: trust.notes,
  };
}

/**
 * Who may call this service, by trust set: our own callers against our roots (the local SNI name, and
 * any name no other set claims); for each peer the service is exported to, its callers (sending that
 * peer's name of the service) against its roots only. A peer whose trust domain is ours or claimed by
 * another peer too gets no set, so its callers fail the handshake, as authenticateCaller refuses them.
 * Known peers the service is not exported to get a set that refuses every caller, to say why in the log.
 */
export function inboundTrust(config: ProxyConfig): InboundTrust {
  const service = name('service', config.service);
  const namespace = name('namespace', config.namespace ?? DEFAULT);
  const partition = name('partition', config.partition ?? DEFAULT);
  const datacenter = name('datacenter', assertDatacenter(config.datacenter));
  const trustDomain = assertTrustDomain(config.trustDomain);
  if (config.roots.length === 0) throw invalid('the sidecar has no CA roots to check callers against');
  const local: InboundTrustSet = {
    sni: localServiceSni({ service, namespace, datacenter, trustDomain }),
    trustDomain,
    roots: config.roots,
    ...rootKeys('our CA roots', config.roots),
  };
  const known = [...config.peerBundles, ...config.inboundPeerBundles];
  const notes: string[] = [];
  const peers: InboundTrustSet[] = [];
  const seen = new Set<string>();
  const setFor = (bundle: TrustBundle, exported: boolean): void => {
    if (seen.has(bundle.peerName)) return;
    seen.add(bundle.peerName);
    // Peer names are lowercase DNS labels (SNI names are compared without case, so no two may differ
    // only in case).
    if (!isSniLabel(bundle.peerName) || bundle.peerName !== bundle.peerName.toLowerCase()) {
      if (exported) throw invalid(`peer name "${bundle.peerName}" cannot be part of an SNI name`);
      notes.push(`peer "${bundle.peerName}": not a valid peer name, so its callers are refused`);
      return;
    }
    const peer = bundle.peerName;
    const peerTrustDomain = assertTrustDomain(bundle.trustDomain);
    const owner = ownerOfTrustDomain(peerTrustDomain, trustDomain, known);
    if (owner.kind !== 'peer' || owner.bundle.peerName !== bundle.peerName) {
      const why =
        owner.kind === 'local'
          ? 'is our own'
          : owner.kind === 'ambiguous'
            ? `is claimed by several peers (${owner.peers.join(', ')})`
            : 'is not its own';
      notes.push(`peer ${peer}: its trust domain ${peerTrustDomain} ${why}, so its callers are refused`);
      return;
    }
    let keys: { rootKeys?: Buffer[] };
    try {
      keys = rootKeys(`the trust bundle of peer ${peer}`, bundle.rootPems);
    } catch (err) {
      notes.push(`peer ${peer}: ${(err as Error).message}, so its callers are refused`);
      return;
    }
    if (bundle.rootPems.length === 0) {
      notes.push(`peer ${peer}: its trust bundle has no roots, so its callers are refused`);
      return;
    }
    const sni = peeredServiceSni({ service, namespace, partition, peer, trustDomain });
    peers.push({
      sni,
      peer: bundle.peerName,
      trustDomain: peerTrustDomain,
      roots: bundle.rootPems,
      ...keys,
      ...(exported
        ? {}
        : {
            refuse: {
              reason: 'not-exported-to-peer' as const,
              detail: `${service} is not exported to peer ${bundle.peerName}`,
            },
          }),
    });
  };
  for (const bundle of config.inboundPeerBundles) setFor(bundle, true);
  for (const bundle of config.peerBundles) setFor(bundle, false);
  return { local, peers, notes };
}

/** The MESHPEER table the Lua check reads: trust sets by SNI, rules in decision order, the default. */
function luaData(config: ProxyConfig, trust: InboundTrust): string {
  const lines = trust.peers.map((set) => {
    const fields = [
      `peer = ${lua(set.peer ?? '')}`,
      `trust_domain = ${lua(set.trustDomain)}`,
      ...rootKeysField(set),
    ];
    if (set.refuse) fields.push(`refuse = ${lua(set.refuse.reason)}`, `detail = ${lua(set.refuse.detail)}`);
    return `    [${lua(set.sni)}] = { ${fields.join(', ')} },`;
  });
  const rules = intentionRules(config.service, config.intentions).map((rule) => {
    const who =
      rule.peer !== undefined ? `peer = ${lua(rule.peer)}` : `partition = ${lua(rule.partition ?? DEFAULT)}`;
    return (
      `    { ${who}, namespace = ${lua(rule.namespace)}, name = ${lua(rule.name)}, ` +
      `allow = ${rule.action === 'allow'}, reason = ${lua(rule.reason)} },`
    );
  });
  const defaultAction = config.defaultIntentionAction;
  return [
    '-- Generated by meshpeer proxy --engine haproxy: who may call this service, decided by meshpeer.',
    'local MESHPEER = {',
    `  default_line = { ${[`trust_domain = ${lua(trust.local.trustDomain)}`, ...rootKeysField(trust.local)].join(', ')} },`,
    '  lines = {',
    ...lines,
    '  },',
    '  rules = {',
    ...rules,
    '  },',
    `  default_allow = ${defaultAction === 'allow'},`,
    `  default_reason = ${lua(`no intention matches; the default is ${defaultAction}`)},`,
    '}',
  ].join('\n');
}

function rootKeysField(set: InboundTrustSet): string[] {
  if (!set.rootKeys) return [];
  return [`root_keys = { ${set.rootKeys.map((key) => `[${lua(key)}] = true`).join(', ')} }`];
}

/** The subject key IDs of `roots` (none if one has none); throws if one is not a certificate. */
function rootKeys(what: string, roots: readonly string[]): { rootKeys?: Buffer[] } {
  const keys: Buffer[] = [];
  for (const pem of roots) {
    let keyId: string | undefined;
    try {
      keyId = parseCert(pem).getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
    } catch (err) {
      throw invalid(`${what} hold ${(err as Error).message}`);
    }
    if (!keyId) return {};
    keys.push(Buffer.from(keyId, 'hex'));
  }
  return { rootKeys: keys };
}

/**
 * A Lua string literal holding exactly `value` (UTF-8, or raw bytes): letters, digits and a few punctuation marks as they
 * are, every other byte (quotes, backslashes, newlines, UTF-8) as a decimal escape.
 */
export function lua(value: string | Uint8Array): string {
  let out = '"';
  for (const byte of typeof value === 'string' ? Buffer.from(value, 'utf8') : value) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9 ._:/*@,()=-]/.test(c) ? c : `\\${byte.toString().padStart(3, '0')}`;
  }
  return `${out}"`;
}

function name(what: string, value: string): string {
  if (!SEGMENT.test(value) || !isSniLabel(value)) {
    throw invalid(
      `${what} "${value}" cannot be served by the HAProxy sidecar: it must be one DNS label ` +
        "(letters, digits, '-' or '_') so it fits both SNI names and SPIFFE IDs",
    );
  }
  return value;
}

function safePath(what: string, path: string): string {
  if (!SAFE_PATH.test(path) || path.split('/').includes('..')) {
    throw invalid(`${what} "${path}" must be an absolute path of letters, digits, '.', '_', '-' and '/'`);
  }
  return path;
}

function address(what: string, endpoint: Endpoint): string {
  if (!HOST.test(endpoint.host) || (endpoint.host.includes(':') && isIP(endpoint.host) !== 6)) {
    throw invalid(`${what} host "${endpoint.host}" is not an IP address or host name`);
  }
  if (!Number.isInteger(endpoint.port) || endpoint.port < 0 || endpoint.port > 65535) {
    throw invalid(`${what} port ${endpoint.port} is not a port number`);
  }
  return formatEndpoint(endpoint);
}

function pemFile(pems: readonly string[]): string {
  return pems.map((pem) => `${pem.trim()}\n`).join('');
}
