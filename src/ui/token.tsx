// The ACL token of this tab: asked for when the API answers 403, kept in session storage (gone when the
// tab closes), sent as X-Consul-Token, never put in a URL.
import { useEffect, useState } from 'preact/hooks';
import { getToken, onPermissionDenied, setToken } from './api.js';

export function TokenPanel({ open, onClose }: { open: boolean; onClose: () => void }) {
  const [denied, setDenied] = useState<string | undefined>(undefined);
  const [value, setValue] = useState('');
  useEffect(() => onPermissionDenied((message) => setDenied(message)), []);
  if (!open && denied === undefined) return null;
  const hasToken = getToken() !== undefined;
  const save = (e: Event) => {
    e.preventDefault();
    setDenied(undefined);
    setToken(value.trim());
    setValue('');
    onClose();
  };
  return (
    <form class="token-panel" aria-label="ACL token" onSubmit={save}>
      {denied !== undefined && (
        <p role="alert">
          {hasToken ? 'The API refused this tab’s token: ' : 'ACLs are on and this tab has no token: '}
          <span class="api-words">{denied}</span>
        </p>
      )}
      <label>
        ACL token (kept in this tab only)
        <input
          type="password"
          name="acl-token"
          autoComplete="off"
          value={value}
          onInput={(e) => setValue(e.currentTarget.value)}
        />
      </label>
      <button type="submit">Use token</button>{' '}
      {hasToken && (
        <button
          type="button"
          onClick={() => {
            setDenied(undefined);
            setToken('');
            onClose();
          }}
        >
          Forget token
        </button>
      )}{' '}
      <button
        type="button"
        onClick={() => {
          setDenied(undefined);
          onClose();
        }}
      >
        Close
      </button>
    </form>
  );
}
