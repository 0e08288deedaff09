// Check statuses summed up per service, worst first, as Consul's UI shows them.
import type { HealthCheck } from './types.js';

export interface HealthSummary {
  passing: number;
  warning: number;
  critical: number;
}

export function summarize(checks: readonly HealthCheck[] | undefined): Map<string, HealthSummary> {
  const by = new Map<string, HealthSummary>();
  for (const c of checks ?? []) {
    if (c.ServiceName === '') continue;
    const s = by.get(c.ServiceName) ?? { passing: 0, warning: 0, critical: 0 };
    if (c.Status === 'passing') s.passing += 1;
    else if (c.Status === 'warning') s.warning += 1;
    else s.critical += 1;
    by.set(c.ServiceName, s);
  }
  return by;
}

/** The word for a service's health: the worst of its checks, or "no checks". */
export function worst(s: HealthSummary | undefined): 'critical' | 'warning' | 'passing' | 'no checks' {
  if (s === undefined) return 'no checks';
  if (s.critical > 0) return 'critical';
  if (s.warning > 0) return 'warning';
  return 'passing';
}
