// What the HAProxy sidecar says about where an upstream's new connections go, in the Node sidecar's
// words (upstream-listener.ts): the target and route, the targets skipped and why, failing over, no
// target at all, parts of the resolver not followed. Said at start when something is worth saying, and
// again only when it changes. Pure: a rendered upstream in, log records out.
import type { RenderedUpstream } from './haproxy-upstreams.js';

export interface RouteLogRecord {
  level: 'info' | 'warn';
  fields: Record<string, unknown>;
  msg: string;
}

export interface RouteReport {
  /** Compared with the previous one's to say it only when it changed. */
  summary: string;
  /** The target new connections fail over to, if the first target cannot take them. */
  failingOver: string | undefined;
  records: RouteLogRecord[];
}

export function routeReport(upstream: RenderedUpstream, initial: boolean): RouteReport {
  const { label, route, servers } = upstream;
  const first = servers[0];
  const skipped = [
    ...route.skipped.map((s) => ({ target: s.target, reason: s.reason, detail: s.detail })),
    ...upstream.rejected.map((r) => ({ target: r.target, reason: 'unsafe-name', detail: r.detail })),
  ];
  const why = skipped.map((s) => `${s.target}: ${s.detail}`);
  const summary = JSON.stringify([first?.target, first?.route, why, route.unsupported]);
  const failingOver = first?.role === 'failover' ? first.target : undefined;
  const fields = {
    upstream: label,
    target: first?.target,
    role: first?.role,
    route: first?.route,
    skipped: skipped.map((s) => ({ target: s.target, reason: s.reason })),
    ...(route.unsupported.length > 0 ? { unsupported: route.unsupported } : {}),
  };
  const records: RouteLogRecord[] = [];
  if (!first) {
    records.push({
      level: 'warn',
      fields,
      msg: `upstream ${label}: no target can take new connections: ${why.join('; ')}`,
    });
  } else if (first.role === 'failover') {
    records.push({
      level: 'warn',
      fields,
      msg: `upstream ${label}: new connections fail over to ${first.target} via ${first.route}: ${why.join('; ')}`,
    });
  } else if (!initial || why.length > 0 || first.role === 'redirect') {
    records.push({
      level: 'info',
      fields,
      msg:
        `upstream ${label}: new connections go to ${first.target} via ${first.route}` +
        (why.length > 0 ? ` (${why.join('; ')})` : ''),
    });
  }
  if (route.unsupported.length > 0) {
    records.push({
      level: 'warn',
      fields: { upstream: label, unsupported: route.unsupported },
      msg: `upstream ${label}: parts of the service-resolver are not followed: ${route.unsupported.join('; ')}`,
    });
  }
  return { summary, failingOver, records };
}
