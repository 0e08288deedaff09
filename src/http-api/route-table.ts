// Registers a path with its handlers per method; any other method gets 405 with an Allow header,
// as Consul answers, instead of fastify's default 404.
//
// Request bodies are decoded once. A method whose handler takes a body is given with `withBody(decode,
// handle)`: `decode` turns the parsed JSON into the value the handler writes (validated, defaults
// applied, keys in their canonical spelling), it runs before anything else looks at the request, and
// both the ACL check (src/acl/enforcement.ts, through `decodedBody`) and the handler receive that one
// value. Nothing authorizes one reading of a body while a handler writes another.
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';

export type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';

/** Turns a parsed JSON body (undefined when empty) into a checked value; throws `invalid` otherwise. */
export type BodyDecoder<B> = (raw: unknown) => B;

export interface BodyHandler<B> {
  readonly decode: BodyDecoder<B>;
  readonly handle: (req: FastifyRequest, reply: FastifyReply, body: B) => Promise<unknown>;
}

/** A handler that receives its request body decoded by `decode` (the same value the ACL check saw). */
export function withBody<B>(
  decode: BodyDecoder<B>,
  handle: (req: FastifyRequest, reply: FastifyReply, body: B) => Promise<unknown>,
): BodyHandler<B> {
  return { decode, handle };
}

const ALL: HTTPMethods[] = ['GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'];

/** What a request's body decoded to, and with which decoder. */
export interface DecodedBody {
  decoder: BodyDecoder<unknown>;
  value: unknown;
}

const decoded = new WeakMap<FastifyRequest, DecodedBody>();

/**
 * The request's decoded body and its decoder, or undefined when its route takes no body for this method
 * (the raw body is then never read by anyone).
 */
export function decodedBody(req: FastifyRequest): DecodedBody | undefined {
  return decoded.get(req);
}

const methodOf = (req: FastifyRequest): Method => (req.method === 'HEAD' ? 'GET' : (req.method as Method));

export function route(
  app: FastifyInstance,
  url: string,
  // biome-ignore lint/suspicious/noExplicitAny: each method's handler has its own body type
  handlers: Partial<Record<Method, Handler | BodyHandler<any>>>,
): void {
  const allowed = Object.keys(handlers) as Method[];
  const allow = [...allowed, ...(allowed.includes('GET') ? ['HEAD'] : [])].join(', ');
  app.route({
    method: ALL,
    url,
    // `methods` tells the ACL check which methods this route serves (the others get 405 here).
    config: { routeName: url, methods: allowed },
    // Route-level preValidation runs before every preHandler hook, so the ACL check (a preHandler)
    // always finds the decoded body.
    preValidation: async (req) => {
      const h = handlers[methodOf(req)];
      if (h !== undefined && typeof h !== 'function') {
        decoded.set(req, { decoder: h.decode, value: h.decode(req.body) });
      }
    },
    handler: async (req, reply) => {
      const h = handlers[methodOf(req)];
      if (h === undefined) {
        return reply
          .code(405)
          .header('Allow', allow)
          .type('text/plain; charset=utf-8')
          .send(`method ${req.method} is not allowed on ${url}; use ${allowed.join(' or ')}`);
      }
      if (typeof h === 'function') return h(req, reply);
      const body = decoded.get(req);
      if (body === undefined) throw new Error(`${req.method} ${url}: the body was not decoded`);
      return h.handle(req, reply, body.value);
    },
  });
}
