// /v1/acl/*: policies and tokens (management token only, but for token/self); registered when ACLs are on.
import type { FastifyInstance } from 'fastify';
import type { PolicyInput, TokenInput } from '../../acl/acl-service.js';
import { identityOf } from '../../acl/enforcement.js';
import { invalid, notFound, permissionDenied } from '../../shared/errors.js';
import { blockingRead } from '../blocking.js';
import type { ApiDeps } from '../deps.js';
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
      const token = identityOf(acl, req).token;
      if (token === undefined) throw permissionDenied('ACL not found');
      return token;
    },
  });
  route(app, '/v1/acl/token/:accessor', {
    GET: (req, reply) =>
      blockingRead(d.store, req, reply, acl.tables, () =>
        acl.readToken((req.params as { accessor: string }).accessor),
      ),
    DELETE: async (req) => {
      await acl.deleteToken((req.params as { accessor: string }).accessor);
      return true;
    },
  });
  route(app, '/v1/acl/tokens', {
    GET: (req, reply) => blockingRead(d.store, req, reply, acl.tables, () => acl.listTokens()),
  });
}
