// A fetch that trusts one more CA, for a data-plane process given the server's CA as PEM (an injected
// sidecar in another namespace cannot mount the CA file; it gets MESHPEER_HTTP_CACERT_PEM). Node 20's
// fetch takes no per-request CA, so this speaks HTTPS through node:https and answers with a standard
// Response. Bodies are small JSON documents, read whole.
import { request } from 'node:https';

export function fetchWithCa(
  url: URL,
  init: { method: string; headers: Record<string, string>; body?: string | undefined; signal: AbortSignal },
  caPem: string,
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: init.method, headers: init.headers, ca: caPem, signal: init.signal },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const headers = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            if (value === undefined) continue;
            for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
          }
          const status = res.statusCode ?? 502;
          const body = status === 204 || status === 304 ? null : Buffer.concat(chunks);
          resolve(new Response(body, { status, headers }));
        });
      },
    );
    // The same shape as fetch's network errors, so callers read err.cause.message either way.
    req.on('error', (err) => reject(new TypeError('fetch failed', { cause: err })));
    if (init.body !== undefined) req.write(init.body);
    req.end();
  });
}
