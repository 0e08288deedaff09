// A stand-in for the meshpeer server's HTTP API as the data plane sees it: canned answers per path
// (with `?peer=`), one Raft-like index, and real blocking queries (`?index=N&wait=Ns`). Paths never
// set answer 404, so a mismatch with the contract shows up as an error, not as silence.
import { once } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

interface Entry {
  body: unknown;
  index: number;
  status: number;
}

export class FakeConsul {
  readonly registered: Record<string, unknown>[] = [];
  readonly deregistered: string[] = [];
  /** Every GET, as path?query. */
  readonly requests: string[] = [];
  private index = 1;
  private readonly entries = new Map<string, Entry>();
  private readonly waiters = new Set<() => void>();
  private readonly server = http.createServer((req, res) => void this.handle(req, res));
  url = '';

  async start(): Promise<string> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async close(): Promise<void> {
    for (const wake of this.waiters) wake();
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }

  /** Sets (or with undefined, removes) the answer at `path`, waking blocked queries. */
  set(path: string, body: unknown, status = 200): void {
    this.index++;
    if (body === undefined) this.entries.delete(path);
    else this.entries.set(path, { body, index: this.index, status });
    for (const wake of [...this.waiters]) wake();
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    if (req.method === 'PUT') return this.handlePut(url, req, res);
    this.requests.push(url.pathname + url.search);
    const peer = url.searchParams.get('peer');
    const key = peer ? `${url.pathname}?peer=${peer}` : url.pathname;
    const since = Number(url.searchParams.get('index') ?? 0);
    const waitMs = Number.parseInt(url.searchParams.get('wait') ?? '0', 10) * 1000;
    const deadline = Date.now() + waitMs;
    while (since > 0 && this.indexOf(key) <= since && Date.now() < deadline && res.writable) {
      await this.changeOrTimeout(deadline - Date.now());
    }
    const entry = this.entries.get(key);
    res.setHeader('X-Consul-Index', String(this.indexOf(key)));
    if (!entry) {
      res.writeHead(404).end(`no ${key}`);
      return;
    }
    if (entry.status !== 200) {
      res.writeHead(entry.status).end(String(entry.body));
      return;
    }
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify(entry.body));
  }

  private indexOf(key: string): number {
    // A missing path reports the latest index, so a blocked query on it wakes when it appears.
    return this.entries.get(key)?.index ?? this.index;
  }

  private changeOrTimeout(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }

  private async handlePut(url: URL, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (url.pathname === '/v1/agent/service/register') {
      this.registered.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
    } else if (url.pathname.startsWith('/v1/agent/service/deregister/')) {
      this.deregistered.push(decodeURIComponent(url.pathname.slice('/v1/agent/service/deregister/'.length)));
    } else {
      res.writeHead(404).end();
      return;
    }
    res.end();
  }
}

/** Polls `check` until it stops throwing, or fails with its last error. */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}
