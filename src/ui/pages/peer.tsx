// Peer: one peering, what it imports from the peer and exports to it, each service with its health,
// and the reason and warnings the server computes (exported without a mesh gateway, no passing instance).
import { useState } from 'preact/hooks';
import { ApiError, api, useLive } from '../api.js';
import { Ago, ErrorNote, HealthBadge, Section, StateBadge } from '../components.js';
import { summarize } from '../health.js';
import type { HealthCheck, Peering } from '../types.js';

function ServiceHealthTable({
  names,
  checks,
  label,
}: {
  names: string[];
  checks: HealthCheck[] | undefined;
  label: string;
}) {
  const health = summarize(checks);
  if (names.length === 0) return <p class="muted">None.</p>;
  return (
    <table class={label}>
      <thead>
        <tr>
          <th scope="col">Service</th>
          <th scope="col">Health</th>
        </tr>
      </thead>
      <tbody>
        {[...names].sort().map((n) => (
          <tr key={n} data-service={n}>
            <td>{n}</td>
            <td>
              {checks === undefined ? <span class="muted">…</span> : <HealthBadge summary={health.get(n)} />}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function DeleteButton({ name }: { name: string }) {
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<Error | undefined>(undefined);
  const remove = async () => {
    setError(undefined);
    try {
      await api(`/v1/peering/${encodeURIComponent(name)}`, { method: 'DELETE' });
      setConfirming(false);
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <div class="delete">
      {confirming ? (
        <>
          <span>Delete peering {name}? The peer sees it TERMINATED.</span>{' '}
          <button type="button" class="danger" onClick={remove}>
            Yes, delete
          </button>{' '}
          <button type="button" onClick={() => setConfirming(false)}>
            Cancel
          </button>
        </>
      ) : (
        <button type="button" class="danger" onClick={() => setConfirming(true)}>
          Delete peering
        </button>
      )}
      {error !== undefined && (
        <div class="note error" role="alert">
          <span class="api-words">{error.message}</span>
        </div>
      )}
    </div>
  );
}

export function PeerPage({ name }: { name: string }) {
  const peering = useLive<Peering>(`/v1/peering/${encodeURIComponent(name)}`);
  const imported = useLive<HealthCheck[]>(`/v1/health/state/any?peer=${encodeURIComponent(name)}`);
  const local = useLive<HealthCheck[]>('/v1/health/state/any');
  const p = peering.data;
  const notFound = peering.error instanceof ApiError && peering.error.status === 404;
  const warnings = p?.StreamStatus?.Warnings ?? [];
  return (
    <main>
      <p>
        <a href="#/peers">← Peers</a>
      </p>
      <div class="page-head">
        <h1>
          Peer <span class="peer-name">{name}</span>
        </h1>
        {p !== undefined && <StateBadge state={p.State} />}
      </div>
      {notFound ? (
        <div class="note error" role="alert">
          <span class="api-words">{peering.error?.message}</span>
        </div>
      ) : (
        <ErrorNote error={peering.error} what="this peering" />
      )}
      {p !== undefined && (
        <>
          {p.Reason !== undefined && p.Reason !== '' && !warnings.includes(p.Reason) && (
            <div class={`note ${p.State === 'ACTIVE' ? 'warn' : 'error'} peer-reason`}>{p.Reason}</div>
          )}
          {warnings.length > 0 && (
            <ul class="warnings" aria-label="Warnings">
              {warnings.map((w) => (
                <li key={w} class="note warn">
                  {w}
                </li>
              ))}
            </ul>
          )}
          <dl class="facts">
            <dt>Role</dt>
            <dd>{p.Role ?? '—'}</dd>
            <dt>Remote datacenter</dt>
            <dd>{p.Remote.Datacenter || '—'}</dd>
            <dt>Peer server</dt>
            <dd>
              {p.PeerServerName || '—'} {(p.PeerServerAddresses ?? []).join(', ')}
            </dd>
            <dt>Last heartbeat</dt>
            <dd>
              <Ago at={p.StreamStatus?.LastHeartbeat} />
            </dd>
            <dt>Last receive</dt>
            <dd>
              <Ago at={p.StreamStatus?.LastReceive} />
            </dd>
            <dt>Last send</dt>
            <dd>
              <Ago at={p.StreamStatus?.LastSend} />
            </dd>
            {p.StreamStatus?.LastError !== undefined && (
              <>
                <dt>Last error</dt>
                <dd>{p.StreamStatus.LastError}</dd>
              </>
            )}
          </dl>
          <Section title={`Imported from ${name} (${p.StreamStatus?.ImportedServices?.length ?? 0})`}>
            <ErrorNote error={imported.error} what="the imported services' health" />
            <ServiceHealthTable
              names={p.StreamStatus?.ImportedServices ?? []}
              checks={imported.data}
              label="imported-services"
            />
          </Section>
          <Section title={`Exported to ${name} (${p.StreamStatus?.ExportedServices?.length ?? 0})`}>
            <ErrorNote error={local.error} what="the exported services' health" />
            <ServiceHealthTable
              names={p.StreamStatus?.ExportedServices ?? []}
              checks={local.data}
              label="exported-services"
            />
          </Section>
          {p.State !== 'TERMINATED' && p.State !== 'DELETING' && <DeleteButton name={name} />}
        </>
      )}
    </main>
  );
}
