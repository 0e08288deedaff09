// Test support for the CLI: a throwaway HTTP server on 127.0.0.1:0 that records requests and answers
// canned responses, and an in-memory CliIo. Used only by src/cli/*.test.ts.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CliIo } from '../io.js';
import { run } from '../run.js';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingMessage['headers'];
  body: string;
  /** The body parsed as JSON, or undefined when empty. */
  json: unknown;
}

export interface CannedResponse {
  status?: number;
  body?: unknown;
  /** Sent as-is (e.g. a plain-text error); otherwise `body` is JSON-encoded. */
  text?: string;
}

export interface FakeApi {
  url: string;
  /** host:port, without a scheme. */
  hostPort: string;
  requests: RecordedRequest[];
  /** Answers `METHOD /path` (path without query) with the response; unmatched requests get a 404. */
  on(method: string, path: string, response: CannedResponse): void;
  close(): Promise<void>;
}

export async function startFakeApi(): Promise<FakeApi> {
  const routes = new Map<string, CannedResponse>();
  const requests: RecordedRequest[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://fake');
    requests.push({
      method: req.method ?? '',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      body,
      json: body ? JSON.parse(body) : undefined,
    });
    const canned = routes.get(`${req.method} ${url.pathname}`);
    if (!canned) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end(`no route for ${req.method} ${url.pathname}`);
      return;
    }
    const isText = canned.text !== undefined;
    res
      .writeHead(canned.status ?? 200, { 'Content-Type': isText ? 'text/plain' : 'application/json' })
      .end(isText ? canned.text : JSON.stringify(canned.body ?? null));
  });
  await listen(server);
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hostPort: `127.0.0.1:${port}`,
    requests,
    on: (method, path, response) => routes.set(`${method} ${path}`, response),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A port on 127.0.0.1 that was just listening and is now closed: connecting to it is refused. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await listen(server);
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function listen(server: Server): Promise<void> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunCliOptions {
  env?: Record<string, string | undefined>;
  stdin?: string;
  now?: Date;
}

/** Runs `meshpeer <argv>` in-process against `api` (via MESHPEER_HTTP_ADDR unless env overrides it). */
export async function runCli(
  api: FakeApi | undefined,
  argv: string[],
  options: RunCliOptions = {},
): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: { MESHPEER_HTTP_ADDR: api?.url, ...options.env },
    stdin: (async function* () {
      if (options.stdin !== undefined) yield options.stdin;
    })(),
    ...(options.now ? { now: () => options.now as Date } : {}),
  };
  const code = await run(argv, io);
  return { code, stdout, stderr };
}
