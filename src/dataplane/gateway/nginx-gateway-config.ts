// Renders a RoutePlan as an nginx stream configuration: the SNI read from the ClientHello without
// terminating TLS (ssl_preread), exact names and each peer's pattern in one map to an upstream per
// destination, anything else to an upstream with no live server, so nginx closes it without dialing
// anyone. One line per connection goes to meshpeer's connection log (nginx-syntax.ts,
// accessLogDirectives): the name asked for, the route it got, nginx's status. Host names in endpoints
// are resolved by the caller first (nginx resolves them once, when it loads, and refuses to load when
// one does not resolve). Pure: plan and paths in, text out.
import { isIP } from 'node:net';
import { invalid } from '../../shared/errors.js';
import type { Endpoint } from '../endpoint.js';
import {
  accessLogDirectives,
  accessLogMaps,
  type NginxAccessLogs,
  nginxAddress,
  nginxMainContext,
  safePath,
} from '../proxy/nginx-syntax.js';
import type { RoutePlan } from './route-plan.js';

export interface NginxGatewayOptions {
  /** The gateway's private directory (absolute), nginx's prefix. */
  dir: string;
  /** The stream module to load (absolute path); empty when built in. */
  modules: readonly string[];
  listen: Endpoint;
  /** How long a client has to send its ClientHello (preread_timeout), as the Node gateway's. */
  clientHelloTimeoutMs: number;
  /** The most a ClientHello may take before it is refused (preread_buffer_size). */
  maxClientHelloBytes: number;
  /** Addresses of the host names the plan's endpoints name; a name missing here is left out. */
  resolved: ReadonlyMap<string, readonly string[]>;
  accessLogs: NginxAccessLogs;
  /** The most open files nginx may have (this process's hard limit); default 65,536. */
  openFileLimit?: number;
}

export interface RenderedNginxGateway {
  text: string;
  /** Endpoints left out, with why (a host name that did not resolve). */
  notes: string[];
}

export const NGINX_GATEWAY_LOG_PREFIX = 'meshpeer-gateway';
/** The upstream every name without a route goes to: no live server, so nothing is dialed. */
export const REFUSED_UPSTREAM = 'meshpeer_refused';
const ROUTE = '$meshpeer_route';
const FORMAT =
  `${NGINX_GATEWAY_LOG_PREFIX} status=$status route=${ROUTE} sni=$ssl_preread_server_name ` +
  'from=$remote_addr:$remote_port to=$upstream_addr';
/** nginx's own buffer per direction: 64 KiB, as the HAProxy engine's (fewer reads and writes per MB). */
const BUFFER = '64k';
const IDLE_FOREVER = '24d';
/** Forwarded connections one gateway carries at most, when the open-file limit allows. */
export const MAX_CONNECTIONS = 16_384;
/** Files nginx keeps for itself (listener, logs, configuration). */
const RESERVED_FILES = 64;
// Upstream names and map values: what the plan makes of service and peer names.
const NAME = /^[A-Za-z0-9_.-]+$/;

export function renderNginxGateway(plan: RoutePlan, options: NginxGatewayOptions): RenderedNginxGateway {
  const dir = safePath('dir', options.dir).replace(/\/+$/, '');
  for (const [what, ms] of [
    ['ClientHello timeout', options.clientHelloTimeoutMs],
    ['dial timeout', plan.connectTimeoutMs],
    ['ClientHello size', options.maxClientHelloBytes],
  ] as const) {
    if (!Number.isInteger(ms) || ms <= 0) throw invalid(`${what} ${ms} is not a positive whole number`);
  }
  const limit = options.openFileLimit ?? 65_536;
  if (!Number.isInteger(limit) || limit < 2 * RESERVED_FILES) {
    throw invalid(`open-file limit ${limit} leaves nginx no room for connections`);
  }
  const files = Math.min(limit, 2 * MAX_CONNECTIONS + RESERVED_FILES);
  const notes: string[] = [];
  const map = [`map $ssl_preread_server_name ${ROUTE} {`, `  default ${REFUSED_UPSTREAM};`];
  for (const [name, backend] of plan.names) {
    if (!/^[a-z0-9_.-]+$/.test(name)) throw invalid(`SNI name "${name}" cannot be written into nginx's map`);
    map.push(`  ${name} ${upstreamName(backend)};`);
  }
  for (const pattern of plan.patterns) {
    // The plan's expressions expect a lower-cased name; ~* matches any case instead. Inside quotes nginx
    // reads \\, \", \', \t, \r and \n as escapes: an expression holding one (or a quote, or white
    // space) would not reach PCRE as written.
    if (/["'\s]|\\[\\"'trn]/.test(pattern.regex)) {
      throw invalid(`pattern "${pattern.regex}" cannot be written into nginx's map as it is`);
    }
    map.push(`  "~*${pattern.regex}" ${upstreamName(pattern.backend)};`);
  }
  map.push('}');

  const upstreams: string[] = [];
  for (const backend of plan.backends) {
    const servers: string[] = [];
    for (const endpoint of backend.endpoints) {
      const addresses = isIP(endpoint.host) ? [endpoint.host] : options.resolved.get(endpoint.host);
      if (!addresses || addresses.length === 0) {
        notes.push(`${backend.name}: ${endpoint.host} did not resolve; its endpoint is left out`);
        continue;
      }
      for (const host of addresses) {
        servers.push(`  server ${nginxAddress('endpoint', { host, port: endpoint.port })};`);
      }
    }
    // nginx wants a server in every upstream: one that is down keeps an empty destination refusing.
    if (servers.length === 0) servers.push('  server 127.0.0.1:1 down;');
    upstreams.push(`upstream ${upstreamName(backend.name)} {`, ...servers, '}');
  }
  upstreams.push(`upstream ${REFUSED_UPSTREAM} {`, '  server 127.0.0.1:1 down;', '}');

  const lines = [
    '# Generated by meshpeer gateway --engine nginx: every route here was decided by meshpeer.',
    // Two connections (two files) per forwarded connection: MAX_CONNECTIONS of them, as far as the
    // open-file limit allows (each connection nginx is ready for costs about 0.5 KiB up front).
    ...nginxMainContext({
      modules: options.modules,
      pidFile: `${dir}/nginx.pid`,
      workerConnections: files - RESERVED_FILES,
      openFiles: files,
    }),
    'stream {',
    // SNI names run to 253 characters, past what nginx's default buckets (64 bytes) hold; and room for
    // every name in the table nginx builds for the map (set before the first map).
    '  map_hash_bucket_size 512;',
    `  map_hash_max_size ${Math.max(2048, 2 ** Math.ceil(Math.log2(plan.names.size * 2 + 1)))};`,
    ...accessLogMaps().map((line) => `  ${line}`),
    `  log_format meshpeer_gateway '${FORMAT}';`,
    ...map.map((line) => `  ${line}`),
    ...upstreams.map((line) => `  ${line}`),
    '  server {',
    `    listen ${nginxAddress('listen', options.listen)};`,
    '    ssl_preread on;',
    `    preread_timeout ${options.clientHelloTimeoutMs}ms;`,
    `    preread_buffer_size ${options.maxClientHelloBytes};`,
    `    proxy_pass ${ROUTE};`,
    `    proxy_connect_timeout ${plan.connectTimeoutMs}ms;`,
    // As the Node gateway, a connection once forwarded is never cut for being idle; nginx wants a
    // limit, so it gets about 24 days, as the HAProxy engine.
    `    proxy_timeout ${IDLE_FOREVER};`,
    '    proxy_half_close on;',
    `    proxy_buffer_size ${BUFFER};`,
    ...accessLogDirectives(options.accessLogs, 'meshpeer_gateway').map((line) => `    ${line}`),
    '  }',
    '}',
  ];
  return { text: `${lines.join('\n')}\n`, notes };
}

/** A plan's destination name as an nginx upstream name (the same, checked: `proxy_pass` finds it by it). */
export function upstreamName(backend: string): string {
  if (!NAME.test(backend) || backend === REFUSED_UPSTREAM) {
    throw invalid(`destination "${backend}" cannot name an nginx upstream`);
  }
  return backend;
}
