// Sustained change on an exporting server, for the churn soak test and the churn benchmark: instance
// registrations and deregistrations (ports change on re-registration), whole services deregistered at
// once, and export-list changes, at a steady rate, bounded in time and count. Plus an exact comparison
// of what the importer holds with what the exporter exports.

export interface ChurnOptions {
  /** The exporting server's base URL. */
  url: string;
  /** The importing peer's name, as the exporter calls it. */
  consumer: string;
  seconds: number;
  /** Operations per second (each an HTTP request). */
  rate: number;
  services: number;
  /** Instance IDs per service the churn draws from. */
  idsPerService: number;
  /** Every this many ms, all instances of one random service are deregistered (0: never). */
  serviceDeleteEveryMs?: number;
  /** Every this many ms, the exported-services entry names a new random part of the services (0: never). */
  exportChangeEveryMs?: number;
  /** Services outside the churn that every export-list change keeps exported (e.g. a probe). */
  keepExported?: string[];
  /** Called about every 100 ms with the time since start, e.g. to sample lag or memory. */
  onTick?: (elapsedMs: number) => void | Promise<void>;
}

export interface ChurnResult {
  ops: number;
  errors: number;
  /** The services exported when the churn stopped. */
  exported: string[];
}

const serviceName = (i: number): string => `svc${i}`;

async function put(url: string, body: unknown): Promise<boolean> {
  try {
    const r = await fetch(url, { method: 'PUT', body: JSON.stringify(body) });
    await r.arrayBuffer();
    return r.ok;
  } catch {
    return false;
  }
}

/** Writes the exported-services entry: these services, to the one consumer. */
export function writeExports(url: string, consumer: string, names: string[]): Promise<boolean> {
  return put(`${url}/v1/config`, {
    Kind: 'exported-services',
    Name: 'default',
    Services: names.map((Name) => ({ Name, Consumers: [{ Peer: consumer }] })),
  });
}

export async function churn(o: ChurnOptions): Promise<ChurnResult> {
  const all = Array.from({ length: o.services }, (_, i) => serviceName(i));
  const keep = o.keepExported ?? [];
  let exported = all;
  await writeExports(o.url, o.consumer, [...exported, ...keep]);
  const live = new Map<string, string>(); // instance ID → service
  let ops = 0;
  let errors = 0;
  const started = Date.now();
  const end = started + o.seconds * 1000;
  const maxOps = Math.ceil(o.rate * o.seconds * 1.1);
  let nextDelete = started + (o.serviceDeleteEveryMs || Number.POSITIVE_INFINITY);
  let nextExport = started + (o.exportChangeEveryMs || Number.POSITIVE_INFINITY);
  const perTick = Math.max(1, Math.round(o.rate / 10));
  while (Date.now() < end && ops < maxOps) {
    const t0 = Date.now();
    const batch: Array<Promise<boolean>> = [];
    if (t0 >= nextDelete) {
      nextDelete += o.serviceDeleteEveryMs ?? 0;
      const svc = serviceName(Math.floor(Math.random() * o.services));
      for (const [id, s] of live) {
        if (s !== svc) continue;
        live.delete(id);
        batch.push(put(`${o.url}/v1/catalog/deregister`, { Node: 'churn', ServiceID: id }));
      }
    }
    if (t0 >= nextExport) {
      nextExport += o.exportChangeEveryMs ?? 0;
      exported = all.filter(() => Math.random() < 0.8);
      batch.push(writeExports(o.url, o.consumer, [...exported, ...keep]));
    }
    for (let i = 0; i < perTick; i++) {
      const svc = serviceName(Math.floor(Math.random() * o.services));
      const id = `${svc}-${Math.floor(Math.random() * o.idsPerService)}`;
      if (live.has(id) && Math.random() < 0.5) {
        live.delete(id);
        batch.push(put(`${o.url}/v1/catalog/deregister`, { Node: 'churn', ServiceID: id }));
      } else {
        live.set(id, svc);
        batch.push(
          put(`${o.url}/v1/catalog/register`, {
            Node: 'churn',
            Address: '10.2.0.1',
            Service: { Service: svc, ID: id, Port: 1000 + (ops % 5000) },
            Check: {
              CheckID: `c-${id}`,
              Name: 'up',
              Status: Math.random() < 0.1 ? 'critical' : 'passing',
              ServiceID: id,
            },
          }),
        );
      }
    }
    const results = await Promise.all(batch);
    ops += results.length;
    errors += results.filter((ok) => !ok).length;
    await o.onTick?.(Date.now() - started);
    const wait = 100 - (Date.now() - t0);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  return { ops, errors, exported };
}

interface HealthEntry {
  Service: { ID: string; Port: number };
  Checks: Array<{ Status: string }>;
}

/** "id:port:statuses" of every instance of a service, sorted ('' peer: local). */
async function instances(url: string, service: string, peer: string): Promise<string[]> {
  const q = peer === '' ? '' : `?peer=${encodeURIComponent(peer)}`;
  const r = await fetch(`${url}/v1/health/service/${service}${q}`);
  const body = (await r.json()) as HealthEntry[];
  return body
    .map((h) => `${h.Service.ID}:${h.Service.Port}:${h.Checks.map((c) => c.Status).join('/')}`)
    .sort();
}

export interface Divergence {
  /** Services whose instances differ (or that one side has and the other does not). */
  services: string[];
  missing: number;
  stale: number;
}

/**
 * Compares what the importer holds from `peer` with what the exporter exports (its local instances of
 * the exported services, no gateway registered, so ports are the instances' own).
 */
export async function divergence(
  exporterUrl: string,
  importerUrl: string,
  peer: string,
  services: number,
  exported: readonly string[],
): Promise<Divergence> {
  const out: Divergence = { services: [], missing: 0, stale: 0 };
  const exportedSet = new Set(exported);
  for (let i = 0; i < services; i++) {
    const name = serviceName(i);
    const want = exportedSet.has(name) ? await instances(exporterUrl, name, '') : [];
    const got = await instances(importerUrl, name, peer);
    const wantSet = new Set(want);
    const gotSet = new Set(got);
    const missing = want.filter((x) => !gotSet.has(x)).length;
    const stale = got.filter((x) => !wantSet.has(x)).length;
    if (missing + stale > 0) {
      out.services.push(name);
      out.missing += missing;
      out.stale += stale;
    }
  }
  return out;
}
