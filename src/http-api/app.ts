// Builds the Consul-compatible HTTP API: fastify with JSON bodies of any content type, a body limit,
// header/request timeouts and a connection cap, errors mapped once, request metrics, and the /v1
// routes of each domain.
import { isUtf8 } from 'node:buffer';
import Fastify, { type FastifyInstance } from 'fastify';
import { installAclEnforcement } from '../acl/enforcement.js';
import type { ApiDeps } from './deps.js';
import { errorHandler } from './errors.js';
import { redactUrl } from './params.js';
import { aclRoutes } from './routes/acl.js';
import { agentRoutes } from './routes/agent.js';
import { catalogRoutes } from './routes/catalog.js';
import { configRoutes } from './routes/config.js';
import { healthRoutes } from './routes/health.js';
import { operatorRoutes } from './routes/operator.js';

export const MAX_BODY_BYTES = 1024 * 1024;

/** How long a client may take to send a request, and how many connections may be open at once. */
export interface HttpLimits {
  /** Time to send the request line and headers. */
  headersTimeoutMs: number;
  /** Time to send the whole request (headers and body); a blocking query's wait is not counted. */
  requestTimeoutMs: number;
  /** Open connections beyond this are closed as they arrive. */
  maxConnections: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  maxConnections: 4096,
};

export type RouteGroup = (app: FastifyInstance, deps: ApiDeps) => void;

/** HTTPS for the API: a PEM certificate chain and key. Without it the API is plain HTTP. */
export interface HttpTls {
  cert: string;
  key: string;
}

export function buildHttpApi(deps: ApiDeps, extraRoutes: RouteGroup[] = [], tls?: HttpTls): FastifyInstance {
  const limits = { ...DEFAULT_HTTP_LIMITS, ...deps.httpLimits };
  const app = Fastify({
    // Typed as the http flavour: everything done with the server here is the same for https.
    ...(tls ? ({ https: { cert: tls.cert, key: tls.key } } as object) : {}),
    logger: false,
    bodyLimit: MAX_BODY_BYTES,
    // Node measures both timeouts only until the request has arrived: a blocking query may then wait
    // its up to 10 minutes. The socket itself has no idle timeout for the same reason.
    requestTimeout: limits.requestTimeoutMs,
    http: {
      headersTimeout: limits.headersTimeoutMs,
      // How often Node looks for connections past those timeouts.
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
    },
    connectionTimeout: 0,
    keepAliveTimeout: 65_000,
    return503OnClosing: true,
    forceCloseConnections: true,
  });
  app.server.maxConnections = limits.maxConnections;
  // forceCloseConnections only acts on a server fastify itself made listen; the server may instead be
  // handed a socket bound earlier (src/server/early-listener.ts). Close every connection either way, or
  // a blocking query would hold close() (and the process) open for up to its 10 minutes.
  app.addHook('preClose', async () => {
    app.server.closeAllConnections();
  });
  // A body announced over the limit is refused before it is sent: a client that waits for 100 Continue
  // (as curl does for a large body) gets the 413 instead of the server closing on its upload. Any other
  // request goes on as Node would take it.
  app.server.on('checkContinue', (req, res) => {
    const length = Number(req.headers['content-length']);
    if (Number.isFinite(length) && length > MAX_BODY_BYTES) {
      res
        .writeHead(413, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' })
        .end(`Request body too large: the body is ${length} bytes, more than the ${MAX_BODY_BYTES} allowed`);
      return;
    }
    res.writeContinue();
    app.server.emit('request', req, res);
  });
  let lastDropWarning = 0;
  app.server.on('drop', () => {
    if (Date.now() - lastDropWarning < 60_000) return;
    lastDropWarning = Date.now();
    deps.logger.warn(
      { maxConnections: limits.maxConnections },
      'HTTP connection refused: the API has as many open connections as --http-max-connections allows',
    );
  });

  // Consul clients send JSON with any content type (often none, or text/plain).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => {
    const bytes = body as Buffer;
    if (!isUtf8(bytes)) {
      done(decodeError('the body is not valid UTF-8; send JSON encoded as UTF-8'), undefined);
      return;
    }
    const text = bytes.toString('utf8');
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      done(decodeError(`body is not valid JSON (${(err as Error).message})`), undefined);
      return;
    }
    const problem = jsonProblem(parsed, 0, '');
    if (problem !== undefined) {
      done(decodeError(problem), undefined);
      return;
    }
    done(null, parsed);
  });

  app.setErrorHandler(errorHandler(deps.logger));
  app.setNotFoundHandler((req, reply) => {
    void reply
      .code(404)
      .type('text/plain; charset=utf-8')
      .send(`no such endpoint: ${req.method} ${req.url.split('?')[0]}`);
  });

  const started = new WeakMap<object, bigint>();
  app.addHook('onRequest', async (req) => {
    started.set(req, process.hrtime.bigint());
  });
  app.addHook('onResponse', async (req, reply) => {
    // metricsName: routes the ACL check does not look at (the UI's static files) still get a label.
    const config = req.routeOptions.config as { routeName?: string; metricsName?: string } | undefined;
    const route = config?.routeName ?? config?.metricsName ?? 'unmatched';
    deps.metrics.httpRequests.inc({ method: req.method, route, code: String(reply.statusCode) });
    const t0 = started.get(req);
    if (t0 !== undefined) {
      deps.metrics.httpDuration.observe(
        { method: req.method, route },
        Number(process.hrtime.bigint() - t0) / 1e9,
      );
    }
    deps.logger.debug({ method: req.method, url: redactUrl(req.url), status: reply.statusCode }, 'request');
  });

  // Every read (it carries X-Consul-Index) says, as Consul's do, whether this server knows a leader and how
  // long ago it heard from the cluster: a server cut off from etcd keeps serving what it has.
  app.addHook('onSend', async (_req, reply, payload) => {
    if (reply.getHeader('X-Consul-Index') !== undefined) {
      void reply.header('X-Consul-KnownLeader', String(deps.cluster?.knownLeader() ?? true));
      void reply.header('X-Consul-LastContact', String(deps.cluster?.lastContactMs() ?? 0));
    }
    return payload;
  });

  // With ACLs on, every route is checked in one place (src/acl/enforcement.ts) before its handler.
  if (deps.acl !== undefined) {
    installAclEnforcement(app, { acl: deps.acl, store: deps.store, agentNode: deps.node.Node });
  }

  app.get('/metrics', { config: { routeName: '/metrics' } }, async (_req, reply) => {
    void reply.type(deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });

  for (const group of [
    catalogRoutes,
    healthRoutes,
    agentRoutes,
    configRoutes,
    aclRoutes,
    operatorRoutes,
    ...extraRoutes,
  ])
    group(app, deps);
  return app;
}

function decodeError(message: string): Error {
  const e = new Error(`Request decode failed: ${message}`) as Error & { statusCode: number };
  e.statusCode = 400;
  return e;
}

/** Deeper bodies are refused: no meshpeer request nests this far, and deep values overflow the stack. */
export const MAX_JSON_DEPTH = 64;
// With the u flag, a surrogate range matches only unpaired surrogates (paired ones are one code point).
const LONE_SURROGATE = /[\ud800-\udfff]/u;

/** The spelling-insensitive form of a key: `Service_ID`, `serviceid` and `ServiceID` fold alike. */
const foldKey = (key: string): string => key.replace(/[_-]/g, '').toLowerCase();

const at = (path: string): string => (path === '' ? '' : ` (at ${path})`);

/**
 * Why a parsed body cannot be accepted, or undefined: too deeply nested, holding a string that is not
 * well-formed Unicode (a lone surrogate cannot be stored as a key or encoded into a URL), or an object
 * with two keys that differ only in case, `_` or `-` (decoders match keys that way, so such a body
 * would have two readings; it is refused instead of picking one).
 */
function jsonProblem(value: unknown, depth: number, path: string): string | undefined {
  if (typeof value === 'string') {
    return LONE_SURROGATE.test(value)
      ? `a string${at(path)} holds an unpaired UTF-16 surrogate (invalid Unicode)`
      : undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  if (depth >= MAX_JSON_DEPTH) return `body is nested more than ${MAX_JSON_DEPTH} levels deep`;
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) {
      const p = jsonProblem(v, depth + 1, `${path}[${i}]`);
      if (p !== undefined) return p;
    }
    return undefined;
  }
  const seen = new Map<string, string>();
  for (const [k, v] of Object.entries(value)) {
    const folded = foldKey(k);
    const other = seen.get(folded);
    if (other !== undefined) {
      return (
        `keys ${JSON.stringify(other)} and ${JSON.stringify(k)}${at(path)} differ only in case, "_" or "-" ` +
        'and would be read as the same field; give it once'
      );
    }
    seen.set(folded, k);
    const p = jsonProblem(k, depth, path) ?? jsonProblem(v, depth + 1, path === '' ? k : `${path}.${k}`);
    if (p !== undefined) return p;
  }
  return undefined;
}
