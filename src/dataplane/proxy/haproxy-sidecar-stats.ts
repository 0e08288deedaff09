// Reads HAProxy's `show stat` CSV and its connection log lines into the Node sidecar's metric shapes.
// From the stats: connections live per direction, connections passed to the app, upstream
// connections per target that took them, failed dials per target, and connections per upstream (each
// one passed over the targets that could not take it). From the log lines (one per connection that
// ended in an error): inbound refusals with their reason, and upstream connections refused. Pure.
import { INBOUND_FRONTEND } from './haproxy-inbound.js';
import { type RenderedUpstream, UPSTREAM_LOG_PREFIX } from './haproxy-upstreams.js';

const HANDSHAKE_ERROR = new RegExp(`^\\S+ \\[[^\\]]+\\] ${INBOUND_FRONTEND}/\\S+: (.+)$`);

export interface SidecarCounts {
  active: { inbound: number; upstream: number };
  /** Sessions of the inbound backends (the app). */
  inboundAllowed: number;
  /** Per upstream proxy name: sessions its frontend took. */
  upstreamSessions: Map<string, number>;
  /** Per `${proxy}/${server}`: sessions that server carried, and its failed connection attempts. */
  servers: Map<string, { carried: number; failed: number }>;
}

export function countsFromSidecarStats(csv: string, upstreams: readonly RenderedUpstream[]): SidecarCounts {
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  const header = (lines.shift() ?? '').replace(/^# /, '').split(',');
  const at = (name: string): number => header.indexOf(name);
  const [px, sv, scur, stot, econ] = ['pxname', 'svname', 'scur', 'stot', 'econ'].map(at);
  const upstreamProxies = new Set(upstreams.map((u) => u.proxy));
  const counts: SidecarCounts = {
    active: { inbound: 0, upstream: 0 },
    inboundAllowed: 0,
    upstreamSessions: new Map(),
    servers: new Map(),
  };
  const num = (fields: string[], i: number | undefined): number => Number(fields[i ?? -1] || 0) || 0;
  for (const line of lines) {
    const fields = line.split(',');
    const proxy = fields[px ?? -1] ?? '';
    const server = fields[sv ?? -1] ?? '';
    const isUpstream = upstreamProxies.has(proxy);
    if (server === 'FRONTEND') {
      if (isUpstream) counts.upstreamSessions.set(proxy, num(fields, stot));
    } else if (server === 'BACKEND') {
      if (isUpstream) counts.active.upstream += num(fields, scur);
      else {
        counts.active.inbound += num(fields, scur);
        counts.inboundAllowed += num(fields, stot);
      }
    } else if (isUpstream) {
      const failed = num(fields, econ);
      counts.servers.set(`${proxy}/${server}`, {
        carried: Math.max(0, num(fields, stot) - failed),
        failed,
      });
    }
  }
  return counts;
}

/** What one of HAProxy's log lines says about a connection, if it is about one. */
export type SidecarLogEvent =
  | { kind: 'inbound-refused'; reason: string; caller?: string; detail?: string }
  | { kind: 'inbound-handshake-failed'; detail: string }
  | { kind: 'upstream-failed'; proxy: string; server: string; state: string };

export function parseSidecarLogLine(line: string): SidecarLogEvent | undefined {
  // HAProxy's stdout lines may start with a syslog-less prefix; the message is what follows it.
  const refused =
    /refused inbound connection reason=(\S+)(?: caller=(\S*))?(?:.*? detail=(.*?))?(?: from=\S+)?(?: state=\S+)?$/.exec(
      line,
    );
  // Every inbound connection that ended in an error is logged; those with no reason were let in.
  if (refused && refused[1] !== '-') {
    return {
      kind: 'inbound-refused',
      reason: refused[1] as string,
      ...(refused[2] && refused[2] !== '-' ? { caller: refused[2] } : {}),
      ...(refused[3] && refused[3] !== '-' ? { detail: refused[3] } : {}),
    };
  }
  if (refused) return undefined;
  const upstream = new RegExp(`${UPSTREAM_LOG_PREFIX} proxy=(\\S+) server=(\\S+) state=(\\S+)`).exec(line);
  if (upstream) {
    return {
      kind: 'upstream-failed',
      proxy: upstream[1] as string,
      server: upstream[2] as string,
      state: upstream[3] as string,
    };
  }
  // A connection-level error on the inbound frontend: HAProxy's own line, e.g. "127.0.0.1:5000
  // [01/Dec/2026:02:57:49.549] inbound/1: SSL client certificate not trusted".
  const handshake = HANDSHAKE_ERROR.exec(line);
  if (handshake) return { kind: 'inbound-handshake-failed', detail: handshake[1] as string };
  return undefined;
}

/**
 * Why an upstream connection HAProxy logged failed, as the Node sidecar's refusal reason; undefined
 * when it was not refused (it was carried, and ended with an error later).
 */
export function upstreamRefusal(
  event: { server: string; state: string },
  upstream: RenderedUpstream,
): string | undefined {
  if (event.server === '<NOSRV>' || upstream.servers.length === 0) {
    return (
      upstream.route.skipped[0]?.reason ?? (upstream.rejected.length > 0 ? 'unsafe-name' : 'no-instances')
    );
  }
  // The second letter of the termination state is the session's phase: C = while connecting.
  return event.state[1] === 'C' ? 'upstream-unreachable' : undefined;
}
