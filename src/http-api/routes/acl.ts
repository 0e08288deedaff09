// /v1/acl/*: policies, tokens, auth methods and binding rules (acl:read to read, acl:write to change;
// token/self for any token), login and logout (no permission: the bearer token or the login token is the
// credential); registered when ACLs are on.
import type { FastifyInstance } from 'fastify';
import { ANONYMOUS_ACCESSOR, type PolicyInput, type TokenInput } from '../../acl/acl-service.js';
import type { AuthMethodInput, LoginInput } from '../../acl/auth-methods.js';
import type { BindingRuleInput } from '../../acl/binding-rules.js';
import { identityOf, requestSecret } from '../../acl/enforcement.js';
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

  const methods = acl.authMethods;
  route(app, '/v1/acl/auth-method', {
    PUT: (req) => methods.writeMethod(objectBody(req.body, 'the auth method') as AuthMethodInput),
  });
  route(app, '/v1/acl/auth-method/:name', {
    GET: (req, reply) =>
      blockingRead(d.store, req, reply, acl.tables, () =>
        methods.readMethod((req.params as { name: string }).name),
      ),
    PUT: (req) =>
      methods.writeMethod(
        objectBody(req.body, 'the auth method') as AuthMethodInput,
        (req.params as { name: string }).name,
      ),
    DELETE: async (req) => {
      await methods.deleteMethod((req.params as { name: string }).name);
      return true;
    },
  });
  route(app, '/v1/acl/auth-methods', {
    GET: (req, reply) => blockingRead(d.store, req, reply, acl.tables, () => methods.listMethods()),
  });
  route(app, '/v1/acl/binding-rule', {
    PUT: (req) => methods.writeRule(objectBody(req.body, 'the binding rule') as BindingRuleInput),
  });
  route(app, '/v1/acl/binding-rule/:id', {
    GET: (req, reply) =>
      blockingRead(d.store, req, reply, acl.tables, () =>
        methods.readRule((req.params as { id: string }).id),
      ),
    PUT: (req) =>
      methods.writeRule(
        objectBody(req.body, 'the binding rule') as BindingRuleInput,
        (req.params as { id: string }).id,
      ),
    DELETE: async (req) => {
      await methods.deleteRule((req.params as { id: string }).id);
      return true;
    },
  });
  route(app, '/v1/acl/binding-rules', {
    GET: (req, reply) => {
      const authMethod = single(req.query as Query, 'authmethod');
      return blockingRead(d.store, req, reply, acl.tables, () => methods.listRules(authMethod));
    },
  });
  // Consul's endpoint is POST; PUT is taken too, as by Consul's other writes.
  const login = (req: { body: unknown }) =>
    acl.login(objectBody(req.body, 'the login request') as LoginInput);
  route(app, '/v1/acl/login', { POST: login, PUT: login });
  route(app, '/v1/acl/logout', {
    POST: async (req) => {
      await acl.logout(requestSecret(req));
      return true;
    },
  });
}
