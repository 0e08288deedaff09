// The upstream half of the nginx sidecar's configuration: per upstream, one plain loopback listener and
// one nginx upstream group holding the route meshpeer decided (routeUpstream): the first target's
// endpoints, later targets (Redirect's failover, Failover) as backups in order. Each connection
// presents our leaf and checks the upstream's chain (at most one intermediate) and its name against the SNI
// sent; the SNI name follows the address nginx dialled (a map on $upstream_addr), as nginx sends one
// name per listener otherwise. nginx 1.22 trusts one set of roots per listener, so a route whose targets
// live in different trust sets (failing over to a peer) trusts all of them for each target, still
// checking each target's SNI name; the HAProxy engine pins each target to its own roots. Host names
// are resolved before rendering (nginx would resolve them once, at load, and fail the load if one did
// not resolve); a target that would share an address with an earlier target under another SNI name
// cannot be told apart by nginx and is skipped, with why. Pure.
import { isIP } from 'node:net';
import { connectTimeoutFrom } from '../dial.js';
import { type Endpoint, formatEndpoint } from '../endpoint.js';
import type { ProxyConfig, UpstreamSpec } from './config.js';
import { upstreamLabel } from './config.js';
import {
  type RejectedTarget,
  type RenderedServer,
  type RenderedUpstream,
  unsafePlan,
} from './haproxy-upstreams.js';
import { DEFAULT_MESH_TLS } from './mesh-tls.js';
import type { NginxFragment } from './nginx-inbound.js';
import {
  accessLogDirectives,
  type NginxAccessLogs,
  nginxAddress,
  nginxTlsDirectives,
  PROXY_BUFFER_DIRECTIVE,
  safePath,
} from './nginx-syntax.js';
import { contentName } from './sidecar-dir.js';
import { routeUpstream } from './upstream-plan.js';

export interface NginxUpstreamOptions {
  dir: string;
  leafCertFile: string;
  leafKeyFile: string;
  connectTimeoutMs: number;
  accessLogs: NginxAccessLogs;
  /** The addresses of each host name the routes name (none: the host could not be resolved). */
  resolved: ReadonlyMap<string, readonly string[]>;
}

export interface NginxRenderedUpstreams extends NginxFragment {
  upstreams: RenderedUpstream[];
}

export const UPSTREAM_LOG_PREFIX = 'meshpeer-upstream';
const UPSTREAM_FORMAT =
  `${UPSTREAM_LOG_PREFIX} proxy=$meshpeer_proxy status=$status connect=$upstream_connect_time ` +
  'addrs=$upstream_addr';
// A server that failed is left alone for a second, then tried again (nginx's passive health).
const HEALTH = 'max_fails=1 fail_timeout=1s';

/** The host names (not IP addresses) the routes of `specs` would dial, to resolve before rendering. */
export function hostNamesOf(config: ProxyConfig, specs: readonly UpstreamSpec[]): string[] {
  const hosts = new Set<string>();
  for (const spec of specs) {
    for (const plan of routeUpstream(spec, config).candidates) {
      for (const endpoint of plan.endpoints) if (isIP(endpoint.host) === 0) hosts.add(endpoint.host);
    }
  }
  return [...hosts].sort();
}

export function renderNginxUpstreams(
  config: ProxyConfig,
  specs: readonly UpstreamSpec[],
  options: NginxUpstreamOptions,
): NginxRenderedUpstreams {
  const dir = safePath('dir', options.dir).replace(/\/+$/, '');
  const files: Record<string, string> = {};
  const blocks: string[] = [];
  const notes: string[] = [];
  const upstreams = specs.map((spec, i) => {
    const proxy = `upstream_${i}`;
    const route = routeUpstream(spec, config);
    const label = upstreamLabel(spec);
    const rejected: RejectedTarget[] = [];
    const servers: RenderedServer[] = [];
    const sniOf = new Map<string, string>(); // address → SNI name
    const roots = new Set<string>();
    for (const [t, plan] of route.candidates.entries()) {
      const problem = unsafePlan(plan);
      if (problem) {
        rejected.push({ target: plan.target, detail: problem });
        continue;
      }
      const endpoints = plan.endpoints.flatMap((e) => addressesOf(e, options.resolved));
      const clashing = endpoints.filter((e) => {
        const sni = sniOf.get(formatEndpoint(e));
        return sni !== undefined && sni !== plan.sni;
      });
      if (endpoints.length === 0) {
        const hosts = plan.endpoints.map((e) => e.host).join(', ');
        rejected.push({ target: plan.target, detail: `its host names (${hosts}) did not resolve` });
        continue;
      }
      if (clashing.length > 0) {
        rejected.push({
          target: plan.target,
          detail:
            `it is reached at ${formatEndpoint(clashing[0] as Endpoint)}, as an earlier target with another ` +
            'SNI name, and the nginx engine sends one name per address (the haproxy engine can)',
        });
        continue;
      }
      for (const pem of plan.rootPems) roots.add(pem.trim());
      endpoints.forEach((endpoint, e) => {
        const key = formatEndpoint(endpoint);
        if (sniOf.has(key)) return; // the same address twice, under the same name
        sniOf.set(key, plan.sni);
        servers.push({
          name: `t${t}e${e}`,
          target: plan.target,
          role: plan.role,
          route: plan.route,
          endpoint,
        });
      });
    }
    const usedTargets = new Set(servers.map((s) => s.target));
    const trustSets = new Set(
      route.candidates.filter((p) => usedTargets.has(p.target)).map((p) => p.trustedPeer),
    );
    if (trustSets.size > 1) {
      notes.push(
        `upstream ${label}: its targets live in ${trustSets.size} trust sets; nginx checks each of them ` +
          'against all of their roots (and its own SNI name)',
      );
    }
    const timeoutMs =
      route.connectTimeoutMs ?? connectTimeoutFrom(config.proxyConfig, options.connectTimeoutMs);
    blocks.push(
      ...serverBlock(proxy, spec, servers, sniOf, [...roots], timeoutMs, config, options, dir, files),
    );
    return { spec, label, proxy, route, servers, rejected } satisfies RenderedUpstream;
  });
  return {
    // nginx refuses a format naming a variable no listener sets.
    stream: specs.length > 0 ? [`log_format meshpeer_upstream '${UPSTREAM_FORMAT}';`] : [],
    blocks,
    files,
    notes,
    upstreams,
  };
}

function serverBlock(
  proxy: string,
  spec: UpstreamSpec,
  servers: readonly RenderedServer[],
  sniOf: ReadonlyMap<string, string>,
  roots: readonly string[],
  timeoutMs: number,
  config: ProxyConfig,
  options: NginxUpstreamOptions,
  dir: string,
  files: Record<string, string>,
): string[] {
  const head = [
    'server {',
    `  listen ${nginxAddress('bind', spec.bind)};`,
    `  set $meshpeer_proxy ${proxy};`,
    ...accessLogDirectives(options.accessLogs, 'meshpeer_upstream').map((line) => `  ${line}`),
  ];
  // No target can take a connection: it is closed at once, as the Node sidecar refuses it.
  if (servers.length === 0) return [...head, '  return "";', '}', ''];
  const caContent = `${roots.join('\n')}\n`;
  const caFile = contentName('upstream-ca', 'pem', caContent);
  files[caFile] = caContent;
  const names = [...new Set(sniOf.values())];
  const first = sniOf.get(formatEndpoint((servers[0] as RenderedServer).endpoint)) as string;
  const lines: string[] = [];
  lines.push(`upstream ${proxy} {`);
  for (const server of servers) {
    const backup = server.role === servers[0]?.role && server.target === servers[0]?.target ? '' : ' backup';
    lines.push(`  server ${nginxAddress('endpoint', server.endpoint)} ${HEALTH}${backup};`);
  }
  lines.push('}');
  let sni = first;
  if (names.length > 1) {
    sni = `$${proxy}_sni`;
    // volatile: a map's value is otherwise kept for the whole connection, so a retry on a backup after
    // a failed TLS handshake would send the name the first address was dialled with.
    lines.push(`map $upstream_addr ${sni} {`, '  volatile;', `  default ${first};`);
    for (const [address, name] of sniOf) {
      if (name !== first) lines.push(`  "~(^|, )${escapeRegex(address)}$" ${name};`);
    }
    lines.push('}');
  }
  return [
    ...lines,
    ...head,
    `  proxy_pass ${proxy};`,
    `  proxy_connect_timeout ${timeoutMs}ms;`,
    '  proxy_timeout 24d;',
    '  proxy_half_close on;',
    `  ${PROXY_BUFFER_DIRECTIVE}`,
    '  proxy_ssl on;',
    `  proxy_ssl_certificate ${safePath('leafCertFile', options.leafCertFile)};`,
    `  proxy_ssl_certificate_key ${safePath('leafKeyFile', options.leafKeyFile)};`,
    `  proxy_ssl_trusted_certificate ${dir}/${caFile};`,
    '  proxy_ssl_verify on;',
    '  proxy_ssl_verify_depth 1;',
    '  proxy_ssl_server_name on;',
    `  proxy_ssl_name ${sni};`,
    '  proxy_ssl_session_reuse on;',
    ...nginxTlsDirectives('proxy_ssl', config.tls?.outgoing ?? DEFAULT_MESH_TLS.outgoing).map(
      (l) => `  ${l}`,
    ),
    '}',
    '',
  ];
}

function addressesOf(endpoint: Endpoint, resolved: ReadonlyMap<string, readonly string[]>): Endpoint[] {
  if (isIP(endpoint.host) !== 0) return [endpoint];
  return (resolved.get(endpoint.host) ?? []).map((host) => ({ host, port: endpoint.port }));
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
