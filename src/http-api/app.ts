// Builds the Consul-compatible HTTP API: fastify with JSON bodies of any content type, a body limit,
// errors mapped once, request metrics, and the /v1 routes of each domain.
import Fastify, { type FastifyInstance } from 'fastify';
import { installAclEnforcement } from '../acl/enforcement.js';
import type { ApiDeps } from './deps.js';
import { errorHandler } from './errors.js';
import { aclRoutes } from './routes/acl.js';
import { agentRoutes } from './routes/agent.js';
import { catalogRoutes } from './routes/catalog.js';
import { configRoutes } from './routes/config.js';
import { healthRoutes } from './routes/health.js';

export const MAX_BODY_BYTES = 1024 * 1024;

export type RouteGroup = (app: FastifyInstance, deps: ApiDeps) => void;

export function buildHttpApi(deps: ApiDeps, extraRoutes: RouteGroup[] = []): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: MAX_BODY_BYTES,
    // Blocking queries may wait up to 10 minutes plus jitter.
    requestTimeout: 0,
    connectionTimeout: 0,
    keepAliveTimeout: 65_000,
    return503OnClosing: true,
    forceCloseConnections: true,
  });

  // Consul clients send JSON with any content type (often none, or text/plain).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body);
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
    const problem = jsonProblem(parsed, 0);
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
    const route = (req.routeOptions.config as { routeName?: string } | undefined)?.routeName ?? 'unmatched';
    deps.metrics.httpRequests.inc({ method: req.method, route, code: String(reply.statusCode) });
    const t0 = started.get(req);
    if (t0 !== undefined) {
      deps.metrics.httpDuration.observe(
        { method: req.method, route },
        Number(process.hrtime.bigint() - t0) / 1e9,
      );
    }
    deps.logger.debug({ method: req.method, url: req.url, status: reply.statusCode }, 'request');
  });

  // With ACLs on, every route is checked in one place (src/acl/enforcement.ts) before its handler.
  if (deps.acl !== undefined) {
    installAclEnforcement(app, { acl: deps.acl, store: deps.store, agentNode: deps.node.Node });
  }

  app.get('/metrics', { config: { routeName: '/metrics' } }, async (_req, reply) => {
    void reply.type(deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });

  for (const group of [catalogRoutes, healthRoutes, agentRoutes, configRoutes, aclRoutes, ...extraRoutes])
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

/**
 * Why a parsed body cannot be accepted, or undefined: too deeply nested, or holding a string that is
 * not well-formed Unicode (a lone surrogate cannot be stored as a key or encoded into a URL).
 */
function jsonProblem(value: unknown, depth: number): string | undefined {
  if (typeof value === 'string') {
    return LONE_SURROGATE.test(value)
      ? 'a string holds an unpaired UTF-16 surrogate (invalid Unicode)'
      : undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  if (depth >= MAX_JSON_DEPTH) return `body is nested more than ${MAX_JSON_DEPTH} levels deep`;
  if (Array.isArray(value)) {
    for (const v of value) {
      const p = jsonProblem(v, depth + 1);
      if (p !== undefined) return p;
    }
    return undefined;
  }
  for (const [k, v] of Object.entries(value)) {
    const p = jsonProblem(k, depth) ?? jsonProblem(v, depth + 1);
    if (p !== undefined) return p;
  }
  return undefined;
}
