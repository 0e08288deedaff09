// /v1/acl/*: policies and tokens (acl:read to read, acl:write to change; token/self for any token);
// registered when ACLs are on.
import type { FastifyInstance } from 'fastify';
import { ANONYMOUS_ACCESSOR, type PolicyInput, type TokenInput } from '../../acl/acl-service.js';
import { identityOf } from '../../acl/enforcement.js';
import { invalid, notFound, permissionDenied } from '../../shared/errors.js';
import { blockingRead } from '../blocking.js';
import type { ApiDeps } from '../deps.js';
import { type Query, single } from '../params.js';
import { route } from '../route-table.js';

function objectBody(body: unknown, what: string): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalid(`Request decode failed: ${what} must be a JSON object`);
  }
  return body as Record<string, unknown>;
}

export function aclRoutes(app: FastifyInstance, d: ApiDeps): void {
  const acl = d.acl;
  if (acl === undefined) return;

  route(app, '/v1/acl/policy', {
    PUT: (req) => acl.writePolicy(objectBody(req.body, 'the policy') as PolicyInput),
  });
  route(app, '/v1/acl/policy/:id', {
    GET: (req, reply) =>
      blockingRead(d.store, req, reply, acl.tables, () => acl.readPolicy((req.params as { id: string }).id)),
    PUT: (req) =>
      acl.writePolicy(objectBody(req.body, 'the policy') as PolicyInput, (req.params as { id: string }).id),
    DELETE: async (req) => {
      await acl.deletePolicy((req.params as { id: string }).id);
      return true;
    },
  });
  route(app, '/v1/acl/policy/name/:name', {
    GET: (req, reply) =>
      blockingRead(d.store, req, reply, acl.tables, () => {
        const { name } = req.params as { name: string };
        const policy = acl.listPolicies().find((p) => p.Name === name);
        if (policy === undefined) throw notFound(`ACL policy not found: ${JSON.stringify(name)}`);
        return policy;
      }),
  });
  route(app, '/v1/acl/policies', {
    GET: (req, reply) => blockingRead(d.store, req, reply, acl.tables, () => acl.listPolicies()),
  });

  route(app, '/v1/acl/token', {
    PUT: (req) => acl.createToken(objectBody(req.body, 'the token') as TokenInput),
  });
  route(app, '/v1/acl/token/self', {
    GET: async (req) => {
      // Without a token of its own, a request has no token to read (the anonymous one is implicit).
      const token = identityOf(acl, req).token;
      if (token === undefined || token.AccessorID === ANONYMOUS_ACCESSOR)
        throw permissionDenied('ACL not found');
      return token;
    },
  });
  route(app, '/v1/acl/token/:accessor', {
    GET: (req, reply) =>
      blockingRead(d.store, req, reply, acl.tables, () =>
        acl.readToken((req.params as { accessor: string }).accessor),
      ),
    PUT: (req) =>
      acl.updateToken(
        (req.params as { accessor: string }).accessor,
        objectBody(req.body, 'the token') as TokenInput,
      ),
    DELETE: async (req) => {
      await acl.deleteToken((req.params as { accessor: string }).accessor);
      return true;
    },
  });
  route(app, '/v1/acl/tokens', {
    GET: (req, reply) => {
      const q = req.query as Query;
      const filter = {
        policy: single(q, 'policy'),
        role: single(q, 'role'),
        serviceName: single(q, 'servicename'),
        authMethod: single(q, 'authmethod'),
      };
      return blockingRead(d.store, req, reply, acl.tables, () => acl.listTokens(filter));
    },
  });
}
