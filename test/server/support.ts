// Helpers shared by the server's end-to-end tests: raw HTTP with a private keep-alive agent (for many
// concurrent blocking queries), the process's CPU time and RSS from /proc, and Prometheus text parsing.
import { readFileSync } from 'node:fs';
import * as http from 'node:http';

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  index: number;
}

/**
 * One HTTP request over `agent`; resolves with the status, headers and body. `signal` aborts it (the
 * promise then rejects). Bodies are sent as given (strings are not re-encoded as JSON); with an
 * `expect: 100-continue` header, only after the server's 100 Continue.
 */
export function request(
  url: string,
  opts: {
    method?: string;
    body?: string | Buffer;
    agent?: http.Agent;
    signal?: AbortSignal;
    headers?: Record<string, string>;
  } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: opts.method ?? 'GET',
        ...(opts.agent ? { agent: opts.agent } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
        headers: {
          ...(opts.body !== undefined ? { 'content-length': String(Buffer.byteLength(opts.body)) } : {}),
          ...opts.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
            index: Number(res.headers['x-consul-index'] ?? 0),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (opts.body !== undefined && opts.headers?.expect === '100-continue') {
      // As curl sends a large body: only once the server says to go on. A server that answers at once
      // (e.g. 413 for the Content-Length alone) gets no body, so its answer cannot race the upload.
      req.on('continue', () => req.end(opts.body));
      req.on('response', (res) => res.on('end', () => req.destroy()));
    } else if (opts.body !== undefined) req.end(opts.body);
    else req.end();
  });
}

/** User + system CPU time of a process so far, in milliseconds (Linux /proc). */
export function cpuTimeMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
}

/** Resident set size of a process, in bytes (Linux /proc VmRSS). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (m === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** Sum of a metric's samples whose labels include all of `labels`, from Prometheus text. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const labelText = m[3] ?? '';
    const ok = Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`));
    if (!ok) continue;
    found = true;
    sum += Number(m[4]);
  }
  return found ? sum : Number.NaN;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
