// Intentions: the service-intentions config entries, one per destination service, with each source's
// origin (this cluster or a peer) and its action (or L7 permissions). Filterable by destination.
import { useState } from 'preact/hooks';
import { useLive } from '../api.js';
import { ErrorNote } from '../components.js';

interface IntentionSource {
  Name: string;
  Peer?: string;
  Action?: string;
  Permissions?: Array<{
    Action: string;
    HTTP?: { PathPrefix?: string; PathExact?: string; PathRegex?: string };
  }>;
  Description?: string;
}

interface ServiceIntentions {
  Name: string;
  Sources?: IntentionSource[] | null;
}

function actionOf(s: IntentionSource): string {
  if (s.Action !== undefined) return s.Action;
  const n = s.Permissions?.length ?? 0;
  return `${n} L7 permission${n === 1 ? '' : 's'}`;
}

export function IntentionsPage() {
  const { data, error } = useLive<ServiceIntentions[]>('/v1/config/service-intentions');
  const [service, setService] = useState('*');
  const entries = [...(data ?? [])].sort((x, y) => x.Name.localeCompare(y.Name));
  const shown = service === '*' ? entries : entries.filter((e) => e.Name === service);
  return (
    <main>
      <div class="page-head">
        <h1>Intentions</h1>
        <label>
          Destination{' '}
          <select value={service} onChange={(e) => setService(e.currentTarget.value)}>
            <option value="*">All</option>
            {entries.map((e) => (
              <option key={e.Name} value={e.Name}>
                {e.Name}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ErrorNote error={error} what="the intentions" />
      {data !== undefined &&
        (shown.length === 0 ? (
          <p class="muted">
            No intentions: with the default ACL policy and no intention, sidecars decide alone.
          </p>
        ) : (
          <table class="intentions">
            <thead>
              <tr>
                <th scope="col">Destination</th>
                <th scope="col">Source</th>
                <th scope="col">From</th>
                <th scope="col">Action</th>
                <th scope="col">Description</th>
              </tr>
            </thead>
            <tbody>
              {shown.flatMap((e) =>
                (e.Sources ?? []).map((s) => (
                  <tr
                    key={`${e.Name}/${s.Peer ?? ''}/${s.Name}`}
                    data-destination={e.Name}
                    data-source={s.Name}
                  >
                    <td>{e.Name}</td>
                    <td>{s.Name}</td>
                    <td>{s.Peer !== undefined && s.Peer !== '' ? `peer ${s.Peer}` : 'this cluster'}</td>
                    <td>
                      <span class={`badge action-${s.Action ?? 'l7'}`}>{actionOf(s)}</span>
                    </td>
                    <td class="muted">{s.Description ?? ''}</td>
                  </tr>
                )),
              )}
            </tbody>
          </table>
        ))}
    </main>
  );
}
