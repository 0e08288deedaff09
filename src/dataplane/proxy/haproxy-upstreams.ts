// The upstream half of the HAProxy sidecar's configuration: one plain loopback frontend per upstream
// and one backend whose servers are the route meshpeer decided (routeUpstream): the first target's
// endpoints, later targets (Redirect's failover, Failover) as backups in order. Each server presents our
// leaf and checks the upstream exactly as the Node sidecar does: its chain against the one trust set
// the plan names (our roots, or that peer's bundle) and its name against the SNI sent (leaves carry
// their SNI names as DNS SANs). Anything from the network that would reach the configuration (SNI
// names, host names) is checked against its grammar first; a target that fails it is skipped, with
// why. Pure: configuration and paths in, text and files out.
import { isIP } from 'node:net';
import { connectTimeoutFrom } from '../dial.js';
import type { Endpoint } from '../endpoint.js';
import { address } from '../gateway/haproxy-config.js';
import { type ProxyConfig, type UpstreamSpec, upstreamLabel } from './config.js';
import { haproxyTlsOptions } from './haproxy-tls.js';
import { DEFAULT_MESH_TLS } from './mesh-tls.js';
import { contentName } from './sidecar-dir.js';
import { routeUpstream, type UpstreamRoute, type UsablePlan } from './upstream-plan.js';

/** A part of the sidecar's HAProxy configuration, as the inbound half renders its own. */
export interface HaproxyFragment {
  global: string[];
  sections: string[];
  /** File name (inside the sidecar's dir) → content, written 0600 before HAProxy (re)loads. */
  files: Record<string, string>;
}

export interface UpstreamRenderOptions {
  /** The sidecar's private directory (absolute); every file rendered lives there. */
  dir: string;
  /** Our leaf, certificate and key in one PEM (absolute path). */
  leafFile: string;
  /** The default dial timeout, when neither the resolver nor Proxy.Config says otherwise. */
  connectTimeoutMs: number;
}

/** What HAProxy's server `name` in a backend stands for, to read its stats and logs back. */
export interface RenderedServer {
  name: string;
  target: string;
  role: UsablePlan['role'];
  route: UsablePlan['route'];
  endpoint: Endpoint;
}

export interface RenderedUpstream {
  spec: UpstreamSpec;
  label: string;
  /** Frontend and backend name (the same). */
  proxy: string;
  route: UpstreamRoute;
  servers: RenderedServer[];
  /** Targets routeUpstream allowed but this renderer could not (a name outside the grammar). */
  rejected: RejectedTarget[];
}

export interface RejectedTarget {
  target: string;
  detail: string;
}

export interface RenderedUpstreams extends HaproxyFragment {
  upstreams: RenderedUpstream[];
}

/** Upstream frontends log one line per connection that ended in an error (option dontlog-normal). */
export const UPSTREAM_LOG_PREFIX = 'upstream connection failed';
const LOG_FORMAT = `${UPSTREAM_LOG_PREFIX} proxy=%f server=%s state=%ts bytes_in=%U bytes_out=%B ms=%Tt`;
// Health, where there is another server to go to: a connection that fails marks its server down at
// once (its retry goes to the next endpoint, then the next target's); a plain TCP connect (no TLS)
// brings it back, tried every second while it is down. A server that is up is checked only every 30 s:
// every check is a connection the upstream sidecar or gateway sees end before its handshake.
const CHECK =
  'check no-check-ssl inter 30s fastinter 1s downinter 1s fall 1 rise 1 observe layer4 error-limit 1 on-error mark-down';
const DNS_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** `specs` carry the bind each upstream listens on (port 0 already replaced by a chosen port). */
export function renderUpstreams(
  config: ProxyConfig,
  specs: readonly UpstreamSpec[],
  options: UpstreamRenderOptions,
): RenderedUpstreams {
  const files: Record<string, string> = {};
  const sections: string[] = [];
  const upstreams = specs.map((spec, i) => {
    const upstream = renderOne(config, spec, `upstream_${i}`, options, files);
    sections.push(...upstream.lines, '');
    return upstream.rendered;
  });
  return { global: [], sections, files, upstreams };
}

function renderOne(
  config: ProxyConfig,
  spec: UpstreamSpec,
  proxy: string,
  options: UpstreamRenderOptions,
  files: Record<string, string>,
): { lines: string[]; rendered: RenderedUpstream } {
  const route = routeUpstream(spec, config);
  const rejected: RejectedTarget[] = [];
  const usable = route.candidates.filter((plan) => {
    const problem = unsafePlan(plan);
    if (problem) rejected.push({ target: plan.target, detail: problem });
    return problem === undefined;
  });
  const servers: RenderedServer[] = [];
  const serverLines: string[] = [];
  const count = usable.reduce((n, plan) => n + plan.endpoints.length, 0);
  const check = count > 1 ? ` ${CHECK}` : '';
  const tls = haproxyTlsOptions(config.tls?.outgoing ?? DEFAULT_MESH_TLS.outgoing);
  usable.forEach((plan, t) => {
    const caFile = trustFile(plan.rootPems);
    files[caFile] = `${plan.rootPems.map((pem) => pem.trim()).join('\n')}\n`;
    plan.endpoints.forEach((endpoint, e) => {
      const name = `t${t}e${e}`;
      servers.push({ name, target: plan.target, role: plan.role, route: plan.route, endpoint });
      serverLines.push(
        `  server ${name} ${address(endpoint)}${isIP(endpoint.host) ? '' : ' init-addr libc,none'}` +
          ` ssl crt ${options.leafFile} ca-file ${options.dir}/${caFile} verify required` +
          ` sni str(${plan.sni}) ${tls}${check}${t > 0 ? ' backup' : ''}`,
      );
    });
  });
  const timeoutMs =
    route.connectTimeoutMs ?? connectTimeoutFrom(config.proxyConfig, options.connectTimeoutMs);
  const lines = [
    `frontend ${proxy}`,
    `  bind ${address(spec.bind)}`,
    `  log-format "${LOG_FORMAT}"`,
    `  default_backend ${proxy}`,
    '',
    `backend ${proxy}`,
    `  timeout connect ${timeoutMs}`,
    // A failed dial moves on: to another endpoint of the target, then to the next target's; one
    // server is dialled once, as the Node sidecar does. With no server at all, HAProxy closes each
    // connection at once, as the Node sidecar refuses it.
    ...(servers.length > 1 ? [`  retries ${servers.length - 1}`, '  option redispatch 1'] : ['  retries 0']),
    ...serverLines,
  ];
  return { lines, rendered: { spec, label: upstreamLabel(spec), proxy, route, servers, rejected } };
}

/** The trust-set file of a plan: named by its content, so a reload never reads a file being replaced. */
export function trustFile(rootPems: readonly string[]): string {
  return contentName('upstream-ca', 'pem', rootPems.join('\n'));
}

/** Why a plan's SNI name or endpoints cannot go into a proxy's configuration (HAProxy's, nginx's), if they cannot. */
export function unsafePlan(plan: UsablePlan): string | undefined {
  if (!DNS_NAME.test(plan.sni)) return `its SNI name ${JSON.stringify(plan.sni)} is not a DNS name`;
  for (const endpoint of plan.endpoints) {
    const hostOk = isIP(endpoint.host) !== 0 || DNS_NAME.test(endpoint.host);
    const portOk = Number.isInteger(endpoint.port) && endpoint.port > 0 && endpoint.port < 65536;
    if (!hostOk || !portOk)
      return `its endpoint ${JSON.stringify(`${endpoint.host}:${endpoint.port}`)} is not host:port`;
  }
  if (plan.rootPems.some((pem) => !pem.includes('-----BEGIN CERTIFICATE-----')))
    return 'its trust set holds something that is not a PEM certificate';
  return undefined;
}
