// The UI's only way to the server: the same /v1 HTTP API the CLI uses, with the ACL token from the
// tab's session storage sent as X-Consul-Token (never in a URL), and blocking queries for live views.
import { useEffect, useState } from 'preact/hooks';

const TOKEN_KEY = 'meshpeer.aclToken';

/** The token this tab uses, if one was entered. */
export function getToken(): string | undefined {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

type Listener = () => void;
const tokenListeners = new Set<Listener>();
const deniedListeners = new Set<(message: string) => void>();

/** Keeps (or with '' forgets) the token for this tab, and restarts every live view with it. */
export function setToken(token: string): void {
  if (token === '') sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
  for (const l of tokenListeners) l();
}

export function onTokenChange(l: Listener): () => void {
  tokenListeners.add(l);
  return () => tokenListeners.delete(l);
}

/** Called with the API's words each time it answers 403. */
export function onPermissionDenied(l: (message: string) => void): () => void {
  deniedListeners.add(l);
  return () => deniedListeners.delete(l);
}

/** An answer other than 2xx: the status and the body as the API words it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface Answer<T> {
  data: T;
  /** X-Consul-Index, 0 when the route does not send one. */
  index: number;
}

export async function api<T>(
  path: string,
  init: { method?: string; body?: unknown; signal?: AbortSignal } = {},
): Promise<Answer<T>> {
  const headers: Record<string, string> = {};
  const token = getToken();
  if (token !== undefined) headers['X-Consul-Token'] = token;
  if (init.body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method: init.method ?? 'GET',
    headers,
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    ...(init.signal !== undefined ? { signal: init.signal } : {}),
  });
  const text = await res.text();
  if (!res.ok) {
    const message = text.trim() || `${res.status} ${res.statusText}`;
    if (res.status === 403) for (const l of deniedListeners) l(message);
    throw new ApiError(res.status, message);
  }
  return {
    data: (text === '' ? undefined : JSON.parse(text)) as T,
    index: Number(res.headers.get('X-Consul-Index') ?? 0),
  };
}

/** How long one blocking query waits for a change before the server answers anyway. */
export const BLOCKING_WAIT = '15s';
/** The least time between two answers of one live read while its data keeps changing. */
const COALESCE_MS = 500;

export interface Live<T> {
  data: T | undefined;
  error: ApiError | Error | undefined;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });

/** Restarts whatever depends on it when the tab's token changes. */
export function useTokenVersion(): number {
  const [version, setVersion] = useState(0);
  useEffect(() => onTokenChange(() => setVersion((v) => v + 1)), []);
  return version;
}

/**
 * A live read: the first answer at once, then one blocking query at a time (`?index=N&wait=15s`), each
 * answered when the data changes or the wait ends; never a polling loop, and at most two answers a
 * second however fast the data changes. On errors it backs off (up to 30 s); a 403 waits for a new
 * token. `path` undefined reads nothing.
 */
export function useLive<T>(path: string | undefined): Live<T> {
  const [state, setState] = useState<Live<T>>({ data: undefined, error: undefined });
  const tokenVersion = useTokenVersion();
  useEffect(() => {
    setState({ data: undefined, error: undefined });
    if (path === undefined) return;
    const abort = new AbortController();
    const { signal } = abort;
    void (async () => {
      let index = 0;
      let failures = 0;
      while (!signal.aborted) {
        const sep = path.includes('?') ? '&' : '?';
        const url = index > 0 ? `${path}${sep}index=${index}&wait=${BLOCKING_WAIT}` : path;
        try {
          const answer = await api<T>(url, { signal });
          if (signal.aborted) return;
          failures = 0;
          // An index that went backwards (a restarted server) starts over, as Consul's clients do.
          const next = answer.index < index ? 0 : answer.index;
          setState({ data: answer.data, error: undefined });
          if (next === 0) await sleep(5000, signal);
          // Under constant change, one answer per half second is enough for a person: changes made in
          // between arrive together with the next answer.
          if (next !== index && index !== 0) await sleep(COALESCE_MS, signal);
          index = next;
        } catch (err) {
          if (signal.aborted) return;
          setState((s) => ({ data: s.data, error: err as Error }));
          if (err instanceof ApiError && err.status === 403) return;
          if (err instanceof ApiError && err.status === 404) return;
          failures += 1;
          index = 0;
          await sleep(Math.min(30_000, 500 * 2 ** failures), signal);
        }
      }
    })();
    return () => abort.abort();
  }, [path, tokenVersion]);
  return state;
}
