// Reads HAProxy's `show stat` CSV into the Node gateway's metric shapes: connections forwarded per route
// kind (each backend's total sessions, by the kind of destination it is), connections live in backends,
// and connections refused (those the frontend's tcp-request content rules rejected, which HAProxy does
// not tell apart by reason, and dials that failed). Pure: CSV and plan in, numbers out.
import type { RouteKind } from './routes.js';

export interface HaproxyCounts {
  forwarded: Map<RouteKind, number>;
  active: number;
  /** Connections rejected by the routing rules (unknown, unexported, not TLS, no SNI, too slow). */
  rejected: number;
  /** Connections routed whose destination could not be reached. */
  unreachable: number;
}

export function countsFromStats(csv: string, kinds: ReadonlyMap<string, RouteKind>): HaproxyCounts {
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  const header = (lines.shift() ?? '').replace(/^# /, '').split(',');
  const at = (name: string): number => header.indexOf(name);
  const [px, sv, scur, stot, dreq, econ] = ['pxname', 'svname', 'scur', 'stot', 'dreq', 'econ'].map(at);
  const counts: HaproxyCounts = { forwarded: new Map(), active: 0, rejected: 0, unreachable: 0 };
  const num = (fields: string[], i: number | undefined): number => Number(fields[i ?? -1] || 0) || 0;
  for (const line of lines) {
    const fields = line.split(',');
    const proxy = fields[px ?? -1] ?? '';
    const server = fields[sv ?? -1];
    if (proxy === 'mesh_gateway' && server === 'FRONTEND') counts.rejected += num(fields, dreq);
    const kind = kinds.get(proxy);
    if (!kind || server !== 'BACKEND') continue;
    counts.forwarded.set(kind, (counts.forwarded.get(kind) ?? 0) + num(fields, stot));
    counts.active += num(fields, scur);
    counts.unreachable += num(fields, econ);
  }
  return counts;
}
