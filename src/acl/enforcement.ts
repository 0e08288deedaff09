// The one place ACLs are enforced on the HTTP API: a table from route pattern + method to the permission
// a request needs, checked before the handler runs, and a table of list reads whose answers are
// filtered down to what the token may read (as Consul does) instead of refused.
// Routes missing from the table need a management token: a new route is closed until it is listed here.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { CHECKS, checkKey, NODE_SERVICES, nodeServiceKey } from '../catalog/keys.js';
import type { HealthCheck } from '../catalog/types.js';
import { permissionDenied } from '../shared/errors.js';
import type { ReadView } from '../store/store.js';
import type { AclService, Identity } from './acl-service.js';
import type { Authorizer, Level, Resource } from './authorizer.js';

export interface Permission {
  resource: Resource;
  level: Level;
  /** The service or node name, for resources that have one. */
  name?: string;
}

/** What a request needs: a permission (or several), any valid token, management, or nothing at all. */
export type Requirement = Permission | Permission[] | 'any-token' | 'management' | 'open';

export interface RequestFacts {
  params: Record<string, string>;
  body: unknown;
  store: ReadView;
  /** The node agent endpoints act on. */
  agentNode: string;
}

type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';
type Rule = (r: RequestFacts) => Requirement;

const MESH_KINDS = new Set(['mesh', 'proxy-defaults', 'exported-services']);

const perm = (resource: Resource, level: Level, name?: string): Permission =>
  name === undefined ? { resource, level } : { resource, level, name };

function field(value: unknown, key: string): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const k = Object.keys(value).find((x) => x.toLowerCase() === key.toLowerCase());
  return k === undefined ? undefined : (value as Record<string, unknown>)[k];
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/**
 * A config entry's permission by kind: mesh-wide kinds need mesh, per-service kinds need service on
 * the entry's name. (Consul asks intentions:write for service-intentions; meshpeer keeps service:write.)
 */
export function configPermission(kind: string, name: string, level: Level): Permission {
  return MESH_KINDS.has(kind) ? perm('mesh', level) : perm('service', level, name);
}

/** The service a local agent service ID belongs to (the ID itself when it is not registered). */
function serviceOfId(r: RequestFacts, id: string): string {
  return r.store.get<string>(NODE_SERVICES, nodeServiceKey('', r.agentNode, id))?.value ?? id;
}

function checkUpdate(r: RequestFacts): Requirement {
  const check = r.store.get<HealthCheck>(CHECKS, checkKey('', r.agentNode, r.params.id ?? ''))?.value;
  return check !== undefined && check.ServiceName !== ''
    ? perm('service', 'write', check.ServiceName)
    : perm('node', 'write', r.agentNode);
}

function catalogRegister(r: RequestFacts): Requirement {
  const service = field(r.body, 'Service');
  const name = str(field(service, 'Service'));
  return name !== '' ? perm('service', 'write', name) : perm('node', 'write', str(field(r.body, 'Node')));
}

function catalogDeregister(r: RequestFacts): Requirement {
  const node = str(field(r.body, 'Node'));
  const id = str(field(r.body, 'ServiceID'));
  if (id === '') return perm('node', 'write', node);
  const name = r.store.get<string>(NODE_SERVICES, nodeServiceKey('', node, id))?.value ?? id;
  return perm('service', 'write', name);
}

export const ROUTE_PERMISSIONS: Record<string, Partial<Record<Method, Rule>>> = {
  '/metrics': { GET: () => perm('operator', 'read') },
  '/v1/status/leader': { GET: () => 'open' },
  '/v1/agent/self': { GET: (r) => perm('node', 'read', r.agentNode) },
  '/v1/agent/metrics': { GET: () => perm('operator', 'read') },
  '/v1/agent/service/register': { PUT: (r) => perm('service', 'write', str(field(r.body, 'Name'))) },
  '/v1/agent/service/deregister/:id': {
    PUT: (r) => perm('service', 'write', serviceOfId(r, r.params.id ?? '')),
  },
  '/v1/agent/check/pass/:id': { PUT: checkUpdate },
  '/v1/agent/check/warn/:id': { PUT: checkUpdate },
  '/v1/agent/check/fail/:id': { PUT: checkUpdate },
  '/v1/agent/check/update/:id': { PUT: checkUpdate },
  '/v1/catalog/register': { PUT: catalogRegister },
  '/v1/catalog/deregister': { PUT: catalogDeregister },
  '/v1/catalog/services': { GET: () => 'any-token' },
  '/v1/catalog/nodes': { GET: () => 'any-token' },
  '/v1/catalog/service/:name': { GET: (r) => perm('service', 'read', r.params.name) },
  '/v1/health/service/:name': { GET: (r) => perm('service', 'read', r.params.name) },
  '/v1/health/connect/:name': { GET: (r) => perm('service', 'read', r.params.name) },
  '/v1/health/checks/:name': { GET: (r) => perm('service', 'read', r.params.name) },
  '/v1/config': {
    PUT: (r) => configPermission(str(field(r.body, 'Kind')), str(field(r.body, 'Name')), 'write'),
  },
  '/v1/config/:kind': { GET: () => 'any-token' },
  '/v1/config/:kind/:name': {
    GET: (r) => configPermission(r.params.kind ?? '', r.params.name ?? '', 'read'),
    DELETE: (r) => configPermission(r.params.kind ?? '', r.params.name ?? '', 'write'),
  },
  '/v1/connect/ca/roots': { GET: () => 'any-token' },
  '/v1/agent/connect/ca/leaf/:service': { GET: (r) => perm('service', 'write', r.params.service) },
  '/v1/peering/token': { POST: () => perm('peering', 'write') },
  '/v1/peering/establish': { POST: () => perm('peering', 'write') },
  '/v1/peerings': { GET: () => perm('peering', 'read') },
  '/v1/peering/:name': { GET: () => perm('peering', 'read'), DELETE: () => perm('peering', 'write') },
  // Trust bundles are public CA certificates, like /v1/connect/ca/roots.
  '/v1/internal/meshpeer/trust-bundles': { GET: () => 'any-token' },
  '/v1/acl/token/self': { GET: () => 'any-token' },
};

type Filter = (payload: unknown, authz: Authorizer) => unknown;

/** List reads answered with only what the token may read. */
export const LIST_FILTERS: Record<string, Filter> = {
  '/v1/catalog/services': (payload, authz) =>
    typeof payload === 'object' && payload !== null && !Array.isArray(payload)
      ? Object.fromEntries(Object.entries(payload).filter(([name]) => authz.allowed('service', 'read', name)))
      : payload,
  '/v1/catalog/nodes': (payload, authz) =>
    Array.isArray(payload)
      ? payload.filter((n: unknown) => authz.allowed('node', 'read', str(field(n, 'Node'))))
      : payload,
  '/v1/config/:kind': (payload, authz) =>
    Array.isArray(payload)
      ? payload.filter((e: unknown) => {
          const p = configPermission(str(field(e, 'Kind')), str(field(e, 'Name')), 'read');
          return authz.allowed(p.resource, p.level, p.name);
        })
      : payload,
};

function describe(p: Permission): string {
  const base = `'${p.resource}:${p.level}'`;
  return p.name === undefined ? base : `${base} on ${JSON.stringify(p.name)}`;
}

/** Throws permission-denied unless the identity meets the requirement. */
export function enforce(identity: Identity, requirement: Requirement): void {
  if (requirement === 'open' || identity.authorizer.management) return;
  const lacks = (what: string) =>
    permissionDenied(
      `Permission denied: token with AccessorID '${identity.accessorId}' lacks permission ${what}`,
    );
  if (requirement === 'management') throw lacks("'acl:write'");
  if (requirement === 'any-token') return;
  for (const p of Array.isArray(requirement) ? requirement : [requirement]) {
    if (!identity.authorizer.allowed(p.resource, p.level, p.name)) throw lacks(describe(p));
  }
}

/** The secret a request carries: X-Consul-Token, or Authorization: Bearer. */
export function requestSecret(req: FastifyRequest): string | undefined {
  const header = req.headers['x-consul-token'];
  const token = Array.isArray(header) ? header[0] : header;
  if (token !== undefined && token !== '') return token;
  const auth = req.headers.authorization;
  const match = auth === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(auth);
  return match?.[1];
}

export interface EnforcementOptions {
  acl: AclService;
  store: ReadView;
  agentNode: string;
}

/** Installs the checks on every route of app; call before the routes are registered. */
export function installAclEnforcement(app: FastifyInstance, opts: EnforcementOptions): void {
  const identities = new WeakMap<FastifyRequest, Identity>();
  app.addHook('preHandler', async (req) => {
    const routeName = (req.routeOptions.config as { routeName?: string } | undefined)?.routeName;
    if (routeName === undefined) return; // unmatched: answered 404 without touching anything
    const method = (req.method === 'HEAD' ? 'GET' : req.method) as Method;
    const rules = ROUTE_PERMISSIONS[routeName];
    const isAclRoute = routeName.startsWith('/v1/acl/');
    // A method the route does not serve is answered 405 by the route itself, touching nothing.
    if (rules !== undefined && !(method in rules) && !isAclRoute) return;
    const rule = rules?.[method];
    const identity = opts.acl.resolve(requestSecret(req));
    identities.set(req, identity);
    const requirement =
      rule === undefined
        ? 'management'
        : rule({
            params: (req.params ?? {}) as Record<string, string>,
            body: req.body,
            store: opts.store,
            agentNode: opts.agentNode,
          });
    enforce(identity, requirement);
  });
  app.addHook('preSerialization', async (req, _reply, payload: unknown) => {
    const routeName = (req.routeOptions.config as { routeName?: string } | undefined)?.routeName;
    const filter = routeName === undefined ? undefined : LIST_FILTERS[routeName];
    const identity = identities.get(req);
    if (filter === undefined || identity === undefined || identity.authorizer.management) return payload;
    return filter(payload, identity.authorizer);
  });
}

/** The identity the enforcement resolved for a request (for /v1/acl/token/self). */
export function identityOf(acl: AclService, req: FastifyRequest): Identity {
  return acl.resolve(requestSecret(req));
}
