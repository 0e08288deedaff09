// Services: this cluster's own and those imported from each peer (?peer=), with their health;
// filterable by source. Every table is a live read.
import { useState } from 'preact/hooks';
import { useLive } from '../api.js';
import { ErrorNote, HealthBadge } from '../components.js';
import { summarize } from '../health.js';
import type { HealthCheck, Peering, ServiceTags } from '../types.js';

function SourceServices({ peer }: { peer: string | undefined }) {
  const q = peer === undefined ? '' : `?peer=${encodeURIComponent(peer)}`;
  const services = useLive<ServiceTags>(`/v1/catalog/services${q}`);
  const checks = useLive<HealthCheck[]>(`/v1/health/state/any${q}`);
  const health = summarize(checks.data);
  const title = peer === undefined ? 'Local' : `Imported from ${peer}`;
  const names = Object.keys(services.data ?? {}).sort();
  return (
    <section aria-label={title} data-source={peer ?? 'local'}>
      <h2>{title}</h2>
      <ErrorNote error={services.error} what={`the ${peer === undefined ? 'local' : 'imported'} services`} />
      <ErrorNote error={checks.error} what="their health" />
      {services.data !== undefined &&
        (names.length === 0 ? (
          <p class="muted">No services.</p>
        ) : (
          <table class="services">
            <thead>
              <tr>
                <th scope="col">Service</th>
                <th scope="col">Health</th>
                <th scope="col">Tags</th>
                <th scope="col">Source</th>
              </tr>
            </thead>
            <tbody>
              {names.map((n) => (
                <tr key={n} data-service={n}>
                  <td>{n}</td>
                  <td>
                    {checks.data === undefined ? (
                      <span class="muted">…</span>
                    ) : (
                      <HealthBadge summary={health.get(n)} />
                    )}
                  </td>
                  <td>
                    {(services.data?.[n] ?? []).map((t) => (
                      <span key={t} class="tag">
                        {t}
                      </span>
                    ))}
                  </td>
                  <td>{peer === undefined ? 'local' : `peer ${peer}`}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
    </section>
  );
}

export function ServicesPage() {
  const peerings = useLive<Peering[]>('/v1/peerings');
  const [source, setSource] = useState('*');
  const peers = (peerings.data ?? []).filter((p) => p.State !== 'TERMINATED').map((p) => p.Name);
  const shown: Array<string | undefined> =
    source === '*' ? [undefined, ...peers] : source === '' ? [undefined] : [source];
  return (
    <main>
      <div class="page-head">
        <h1>Services</h1>
        <label>
          Source{' '}
          <select value={source} onChange={(e) => setSource(e.currentTarget.value)}>
            <option value="*">All</option>
            <option value="">Local</option>
            {peers.map((p) => (
              <option key={p} value={p}>
                Peer {p}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ErrorNote error={peerings.error} what="the peerings (imported services are not listed)" />
      {shown.map((p) => (
        <SourceServices key={p ?? ''} peer={p} />
      ))}
    </main>
  );
}
