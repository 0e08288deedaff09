// Add peer connection: generate a token here for the peer to establish with (copy button), or establish
// with a token the peer generated (pasted). Errors are shown as the API words them.
import { useState } from 'preact/hooks';
import { api } from '../api.js';

async function copyText(text: string, fallback: HTMLTextAreaElement | null): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // Without the async clipboard (not a secure context, or refused): copy the selected text.
    fallback?.select();
    if (!document.execCommand('copy'))
      throw new Error('the browser refused to copy; select the token and copy it');
  }
}

function GenerateToken() {
  const [peerName, setPeerName] = useState('');
  const [token, setToken] = useState<string | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [copied, setCopied] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  let area: HTMLTextAreaElement | null = null;
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    setToken(undefined);
    setCopied(undefined);
    try {
      const r = await api<{ PeeringToken: string }>('/v1/peering/token', {
        method: 'POST',
        body: { PeerName: peerName.trim() },
      });
      setToken(r.data.PeeringToken);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-label="Generate token">
      <h2>Generate token</h2>
      <p class="muted">This cluster accepts: give the token to the peer, which establishes with it.</p>
      <form onSubmit={submit}>
        <label>
          Name of the peer
          <input
            name="generate-peer-name"
            value={peerName}
            required
            onInput={(e) => setPeerName(e.currentTarget.value)}
          />
        </label>
        <button type="submit" disabled={busy}>
          Generate token
        </button>
      </form>
      {error !== undefined && (
        <div class="note error" role="alert">
          <span class="api-words">{error}</span>
        </div>
      )}
      {token !== undefined && (
        <div class="token">
          <label>
            Peering token for {peerName.trim()}
            <textarea
              name="generated-token"
              readOnly
              rows={5}
              value={token}
              ref={(el) => {
                area = el;
              }}
            />
          </label>
          <button
            type="button"
            onClick={() =>
              copyText(token, area).then(
                () => setCopied('Copied to the clipboard.'),
                (err: Error) => setCopied(err.message),
              )
            }
          >
            Copy token
          </button>{' '}
          <span class="copied" aria-live="polite">
            {copied}
          </span>
        </div>
      )}
    </section>
  );
}

function EstablishPeering() {
  const [peerName, setPeerName] = useState('');
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const name = peerName.trim();
      await api('/v1/peering/establish', {
        method: 'POST',
        body: { PeerName: name, PeeringToken: token.trim() },
      });
      location.hash = `#/peers/${encodeURIComponent(name)}`;
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-label="Establish peering">
      <h2>Establish peering</h2>
      <p class="muted">This cluster dials: paste the token the peer generated.</p>
      <form onSubmit={submit}>
        <label>
          Name of the peer
          <input
            name="establish-peer-name"
            value={peerName}
            required
            onInput={(e) => setPeerName(e.currentTarget.value)}
          />
        </label>
        <label>
          Peering token
          <textarea
            name="establish-token"
            rows={5}
            value={token}
            required
            onInput={(e) => setToken(e.currentTarget.value)}
          />
        </label>
        <button type="submit" disabled={busy}>
          Establish
        </button>
      </form>
      {error !== undefined && (
        <div class="note error" role="alert">
          <span class="api-words">{error}</span>
        </div>
      )}
    </section>
  );
}

export function AddPeerPage() {
  return (
    <main>
      <p>
        <a href="#/peers">← Peers</a>
      </p>
      <h1>Add peer connection</h1>
      <div class="columns">
        <GenerateToken />
        <EstablishPeering />
      </div>
    </main>
  );
}
