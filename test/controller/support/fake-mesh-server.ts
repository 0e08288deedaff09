// A stand-in for a meshpeer server's peering and config-entry HTTP routes, for controller tests that
// are about the controller (Kubernetes side, failure reasons) rather than about peering itself.
// It keeps state in memory and can be told to fail every request.
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakePeering {
  ID: string;
  Name: string;
  State: string;
  PeerID?: string;
  Token?: string;
}

export interface FakeEntry {
  Kind: string;
  Name: string;
  Meta?: Record<string, string>;
  CreateIndex: number;
  ModifyIndex: number;
  [field: string]: unknown;
}

export interface FakeMeshServer {
  address: string;
  peerings: Map<string, FakePeering>;
  entries: Map<string, FakeEntry>;
  /** Every request as "METHOD /path". */
  requests: string[];
  /** When set, every request is answered with this status and message. */
  failWith: { status: number; message: string } | undefined;
  close(): Promise<void>;
}

export async function startFakeMeshServer(): Promise<FakeMeshServer> {
  let index = 1;
  const state: Omit<FakeMeshServer, 'address' | 'close'> = {
    peerings: new Map(),
    entries: new Map(),
    requests: [],
    failWith: undefined,
  };
  const server = createServer((req, res) => {
    readBody(req)
      .then((body) => {
        const url = new URL(req.url ?? '/', 'http://fake');
        state.requests.push(`${req.method} ${url.pathname}`);
        if (state.failWith) return send(res, state.failWith.status, state.failWith.message);
        return route(req.method ?? 'GET', url, body, res);
      })
      .catch((err: unknown) => send(res, 500, String(err)));
  });

  function route(method: string, url: URL, body: unknown, res: ServerResponse): true {
    const path = url.pathname;
    const peering = /^\/v1\/peering\/([^/]+)$/.exec(path);
    const entry = /^\/v1\/config\/([^/]+)\/([^/]+)$/.exec(path);
    if (method === 'POST' && path === '/v1/peering/token') {
      const { PeerName } = body as { PeerName: string };
      const existing = state.peerings.get(PeerName);
      const token = Buffer.from(
        JSON.stringify({ PeerID: existing?.ID ?? randomUUID(), Secret: randomBytes(8).toString('hex') }),
      ).toString('base64');
      state.peerings.set(PeerName, {
        ID: existing?.ID ?? randomUUID(),
        Name: PeerName,
        State: 'PENDING',
        Token: token,
      });
      return send(res, 200, { PeeringToken: token });
    }
    if (method === 'POST' && path === '/v1/peering/establish') {
      const { PeerName, PeeringToken } = body as { PeerName: string; PeeringToken: string };
      let decoded: { PeerID?: string };
      try {
        decoded = JSON.parse(Buffer.from(PeeringToken, 'base64').toString('utf8'));
      } catch {
        return send(res, 400, 'invalid peering token: not base64-encoded JSON');
      }
      state.peerings.set(PeerName, {
        ID: state.peerings.get(PeerName)?.ID ?? randomUUID(),
        Name: PeerName,
        State: 'ACTIVE',
        PeerID: decoded.PeerID ?? '',
        Token: PeeringToken,
      });
      return send(res, 200, {});
    }
    if (method === 'GET' && path === '/v1/peerings') {
      res.setHeader('x-consul-index', String(index));
      return send(res, 200, [...state.peerings.values()]);
    }
    if (peering?.[1]) {
      const name = decodeURIComponent(peering[1]);
      const found = state.peerings.get(name);
      if (method === 'GET')
        return found ? send(res, 200, found) : send(res, 404, `no peering named "${name}"`);
      if (method === 'DELETE') {
        state.peerings.delete(name);
        return send(res, 200, '');
      }
    }
    if (method === 'PUT' && path === '/v1/config') {
      const written = body as FakeEntry;
      const key = `${written.Kind}/${written.Name}`;
      const existing = state.entries.get(key);
      const cas = url.searchParams.get('cas');
      if (cas !== null && Number(cas) !== (existing?.ModifyIndex ?? 0)) return send(res, 200, false);
      index++;
      state.entries.set(key, { ...written, CreateIndex: existing?.CreateIndex ?? index, ModifyIndex: index });
      return send(res, 200, true);
    }
    if (entry?.[1] && entry[2]) {
      const key = `${decodeURIComponent(entry[1])}/${decodeURIComponent(entry[2])}`;
      const found = state.entries.get(key);
      if (method === 'GET') return found ? send(res, 200, found) : send(res, 404, `no config entry ${key}`);
      if (method === 'DELETE') {
        state.entries.delete(key);
        return send(res, 200, true);
      }
    }
    return send(res, 404, `no route for ${method} ${path}`);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const fake: FakeMeshServer = {
    ...state,
    address: `http://127.0.0.1:${port}`,
    get failWith() {
      return state.failWith;
    },
    set failWith(value) {
      state.failWith = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return fake;
}

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      text += chunk;
    });
    req.on('end', () => {
      try {
        resolve(text === '' ? undefined : JSON.parse(text));
      } catch (err) {
        reject(err);
      }
    });
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): true {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json' });
  res.end(text);
  return true;
}
