// Peers: every peering of this cluster with its state (and why, when not ACTIVE), what crosses it and
// when the peer was last heard from; live through a blocking query on /v1/peerings.
import { useLive } from '../api.js';
import { Ago, ErrorNote, StateBadge } from '../components.js';
import type { Peering } from '../types.js';

export function PeersPage() {
  const { data, error } = useLive<Peering[]>('/v1/peerings');
  return (
    <main>
      <div class="page-head">
        <h1>Peers</h1>
        <a class="button" href="#/add-peer">
          Add peer connection
        </a>
      </div>
      <ErrorNote error={error} what="the peerings" />
      {data === undefined ? (
        error === undefined && <p class="muted">Loading…</p>
      ) : data.length === 0 ? (
        <p class="muted">No peerings yet. Add a peer connection to generate a token or establish with one.</p>
      ) : (
        <table class="peers">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">State</th>
              <th scope="col">Remote datacenter</th>
              <th scope="col">Imported</th>
              <th scope="col">Exported</th>
              <th scope="col">Last heartbeat</th>
              <th scope="col">Last receive</th>
            </tr>
          </thead>
          <tbody>
            {data.map((p) => (
              <tr key={p.ID} data-peer={p.Name}>
                <td class="name">
                  <a href={`#/peers/${encodeURIComponent(p.Name)}`}>{p.Name}</a>
                  {p.Role !== undefined && <div class="muted small">{p.Role}</div>}
                </td>
                <td class="state">
                  <StateBadge state={p.State} />
                  {p.State !== 'ACTIVE' && p.Reason !== undefined && p.Reason !== '' && (
                    <div class="reason">{p.Reason}</div>
                  )}
                  {p.State === 'ACTIVE' && (p.StreamStatus?.Warnings?.length ?? 0) > 0 && (
                    <div class="reason">
                      <a href={`#/peers/${encodeURIComponent(p.Name)}`}>
                        {p.StreamStatus?.Warnings?.length === 1
                          ? '1 warning'
                          : `${p.StreamStatus?.Warnings?.length} warnings`}
                      </a>
                    </div>
                  )}
                </td>
                <td>{p.Remote.Datacenter || <span class="muted">—</span>}</td>
                <td class="imported num">{p.StreamStatus?.ImportedServices?.length ?? 0}</td>
                <td class="exported num">{p.StreamStatus?.ExportedServices?.length ?? 0}</td>
                <td>
                  <Ago at={p.StreamStatus?.LastHeartbeat} />
                </td>
                <td>
                  <Ago at={p.StreamStatus?.LastReceive} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </main>
  );
}
