// The one place ACLs are enforced on the HTTP API: a table from route pattern + method to the permission
// a request needs, checked before the handler runs, and a table of list reads whose answers are
// filtered down to what the token may read (as Consul does) instead of refused.
//
// Decode once; authorize exactly the decoded value the handler will write. A rule never sees the raw
// body: it gets the value the route's own decoder produced (`withBody(decode, handle)` in
// src/http-api/route-table.ts), the same value the handler then writes, and reads it with
// `bodyAs(r, decode)`, which fails unless the route really decoded with that decoder.
//
// Listing a new route: add `'<the path exactly as given to route()>': { <METHOD>: (r) => requirement }`
// to ROUTE_PERMISSIONS. A requirement is a permission (`perm('service', 'read', r.params.name)`), a list
// of them (all needed), `anyOf(...)`, `'any-token'`, `'management'` or `'open'` (the token is not even
// looked at). If the rule depends on the body, give the route's handler with `withBody(decodeX, ...)`
// and read it here with `bodyAs(r, decodeX)`. Routes missing from the table need a management token: a new route is closed
// until it is listed here. Then add the route's row to the expected table of test/security/matrix.test.ts.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { decodeAgentCheckRegistration } from '../catalog/agent-requests.js';
import {
  checkServiceID,
  connectDestination,
  registrationChangesNode,
  toInstance,
} from '../catalog/catalog.js';
import { CHECKS, checkKey, NODE_SERVICES, NODES, nodeKey, nodeServiceKey } from '../catalog/keys.js';
import {
  decodeAgentRegistration,
  decodeDeregisterRequest,
  decodeRegisterRequest,
} from '../catalog/requests.js';
import type { CatalogNode, HealthCheck, ServiceInstance } from '../catalog/types.js';
import { parseConfigEntry } from '../config-entries/registry.js';
import { type BodyDecoder, decodedBody } from '../http-api/route-table.js';
import { permissionDenied } from '../shared/errors.js';
import type { ReadView } from '../store/store.js';
import { type AclService, ANONYMOUS_ACCESSOR, type Identity } from './acl-service.js';
import type { Authorizer, Level, Resource } from './authorizer.js';

export interface Permission {
  resource: Resource;
  level: Level;
  /** The service or node name, for resources that have one. */
  name?: string;
}

/** Any one of these permissions is enough. */
export interface AnyOf {
  anyOf: Permission[];
}

/** What a request needs: a permission (or several, all needed), one of several, any valid token, management, or nothing at all. */
export type Requirement =
  | Permission
  | Array<Permission | AnyOf>
  | AnyOf
  | 'any-token'
  | 'management'
  | 'open';

export interface RequestFacts {
  params: Record<string, string>;
  /** The body as the route's decoder returned it (undefined when the route takes no body). */
  body: unknown;
  /** The decoder that produced `body`. */
  decoder: BodyDecoder<unknown> | undefined;
  store: ReadView;
  /** The node agent endpoints act on. */
  agentNode: string;
}

type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';
type Rule = (r: RequestFacts) => Requirement;

const MESH_KINDS = new Set(['mesh', 'proxy-defaults', 'exported-services']);
/**
 * Kinds any token may read, as in Consul: the mesh-wide settings every sidecar and gateway applies (a
 * sidecar's login token has only its service identity).
 */
const OPEN_READ_KINDS = new Set(['proxy-defaults', 'mesh']);

export const perm = (resource: Resource, level: Level, name?: string): Permission =>
  name === undefined ? { resource, level } : { resource, level, name };

export const anyOf = (...permissions: Permission[]): AnyOf => ({ anyOf: permissions });

/** The decoded body of the request, as `decoder` produced it; throws if the route decoded otherwise. */
export function bodyAs<T>(r: RequestFacts, decoder: BodyDecoder<T>): T {
  if (r.decoder !== decoder) {
    throw new Error(
      `ACL rule expects the body decoded by ${decoder.name || 'its decoder'}, ` +
        `but the route decodes with ${r.decoder?.name || 'nothing'}`,
    );
  }
  return r.body as T;
}

/**
 * A config entry's permission by kind: mesh-wide kinds need mesh, per-service kinds need service on
 * the entry's name. (Consul asks intentions:write for service-intentions; meshpeer keeps service:write.)
 */
export function configPermission(kind: string, name: string, level: Level): Permission {
  return MESH_KINDS.has(kind) ? perm('mesh', level) : perm('service', level, name);
}

/** The name of the service registered under `id` on `node`, if any. */
function serviceNameOf(store: ReadView, node: string, id: string): string | undefined {
  return store.get<string>(NODE_SERVICES, nodeServiceKey('', node, id))?.value;
}

function checkUpdate(r: RequestFacts): Requirement {
  const check = r.store.get<HealthCheck>(CHECKS, checkKey('', r.agentNode, r.params.id ?? ''))?.value;
  return check !== undefined && check.ServiceName !== ''
    ? perm('service', 'write', check.ServiceName)
    : perm('node', 'write', r.agentNode);
}

/**
 * Registering an instance, as Consul vets it: write on its service, on the service an existing instance
 * with the same ID on that node belongs to (it is replaced), and on the destination of a connect-proxy
 * (the proxy is discovered as an instance of it). A mesh gateway also needs mesh:write (as Consul's
 * gateway tokens have): every mesh-gateway instance becomes an address peers are told to send traffic to.
 */
function instancePermissions(store: ReadView, node: string, instance: ServiceInstance): Permission[] {
  const out = [perm('service', 'write', instance.Service)];
  if (instance.Kind === 'mesh-gateway') out.push(perm('mesh', 'write'));
  const replaced = serviceNameOf(store, node, instance.ID);
  if (replaced !== undefined && replaced !== instance.Service) out.push(perm('service', 'write', replaced));
  const destination = connectDestination(instance);
  if (destination !== undefined && destination !== instance.Service) {
    out.push(perm('service', 'write', destination));
  }
  return out;
}

function agentRegister(r: RequestFacts): Requirement {
  const body = bodyAs(r, decodeAgentRegistration);
  // Its checks all belong to the service itself. The agent's own node is created implicitly, as
  // Consul's agent node always exists.
  return instancePermissions(r.store, r.agentNode, toInstance(body.service));
}

/**
 * Consul's rules for PUT /v1/catalog/register: node:write to create or change the node; the instance's
 * permissions (above); for each check, node:write for a node check and service:write on the service a
 * service check belongs to.
 */
function catalogRegister(r: RequestFacts): Requirement {
  const body = bodyAs(r, decodeRegisterRequest);
  const out: Permission[] = [];
  const node = perm('node', 'write', body.Node);
  const existing = r.store.get<CatalogNode>(NODES, nodeKey('', body.Node))?.value;
  if (registrationChangesNode(body, existing)) out.push(node);
  const instance = body.Service ? toInstance(body.Service) : undefined;
  if (instance !== undefined) out.push(...instancePermissions(r.store, body.Node, instance));
  for (const check of [...(body.Check ? [body.Check] : []), ...(body.Checks ?? [])]) {
    const serviceID = checkServiceID(check, instance);
    if (serviceID === '') out.push(node);
    else if (serviceID !== instance?.ID) {
      // A check for another instance: write on that instance's service (an unknown ID is refused by
      // the handler; the ID stands in for the name until then).
      out.push(perm('service', 'write', serviceNameOf(r.store, body.Node, serviceID) ?? serviceID));
    }
  }
  return out;
}

/**
 * Consul's rules for PUT /v1/catalog/deregister: node:write on the node allows everything; otherwise
 * service:write on the service of the instance (or of the check) removed. Removing a node, a node check
 * or an unknown instance needs node:write.
 */
function catalogDeregister(r: RequestFacts): Requirement {
  const body = bodyAs(r, decodeDeregisterRequest);
  const node = perm('node', 'write', body.Node);
  if (body.ServiceID !== undefined) {
    const name = serviceNameOf(r.store, body.Node, body.ServiceID);
    return name === undefined ? node : anyOf(node, perm('service', 'write', name));
  }
  if (body.CheckID !== undefined) {
    const check = r.store.get<HealthCheck>(CHECKS, checkKey('', body.Node, body.CheckID))?.value;
    return check !== undefined && check.ServiceID !== '' && check.ServiceName !== ''
      ? anyOf(node, perm('service', 'write', check.ServiceName))
      : node;
  }
  return node;
}

/** Reading one of the agent's services: service read on its name (the ID stands in when unknown). */
function agentServiceRead(r: RequestFacts): Requirement {
  return perm('service', 'read', serviceNameOf(r.store, r.agentNode, r.params.id ?? '') ?? r.params.id);
}

/** A check on the agent's node: service write on its service, or node write for a node check. */
function agentCheckRegister(r: RequestFacts): Requirement {
  const check = bodyAs(r, decodeAgentCheckRegistration);
  const serviceID = check.ServiceID ?? '';
  return serviceID === ''
    ? perm('node', 'write', r.agentNode)
    : perm('service', 'write', serviceNameOf(r.store, r.agentNode, serviceID) ?? serviceID);
}

export const ROUTE_PERMISSIONS: Record<string, Partial<Record<Method, Rule>>> = {
  '/metrics': { GET: () => perm('operator', 'read') },
  '/v1/status/leader': { GET: () => 'open' },
  // Consul's agent rules: agent:read on the agent's node name to read the agent itself.
  '/v1/agent/self': { GET: (r) => perm('agent', 'read', r.agentNode) },
  '/v1/agent/metrics': { GET: (r) => perm('agent', 'read', r.agentNode) },
  // Members are listed to any token, each one only with node:read on its name (LIST_FILTERS).
  '/v1/agent/members': { GET: () => 'any-token' },
  '/v1/agent/service/register': { PUT: agentRegister },
  '/v1/agent/service/deregister/:id': {
    PUT: (r) =>
      perm('service', 'write', serviceNameOf(r.store, r.agentNode, r.params.id ?? '') ?? r.params.id),
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
    PUT: (r) => {
      const entry = bodyAs(r, parseConfigEntry);
      return configPermission(entry.Kind, entry.Name, 'write');
    },
  },
  '/v1/config/:kind': { GET: () => 'any-token' },
  '/v1/config/:kind/:name': {
    GET: (r) =>
      OPEN_READ_KINDS.has(r.params.kind ?? '')
        ? 'any-token'
        : configPermission(r.params.kind ?? '', r.params.name ?? '', 'read'),
    DELETE: (r) => configPermission(r.params.kind ?? '', r.params.name ?? '', 'write'),
  },
  '/v1/connect/ca/roots': { GET: () => 'any-token' },
  '/v1/agent/connect/ca/roots': { GET: () => 'any-token' },
  '/v1/status/peers': { GET: () => 'open' },
  '/v1/operator/raft/configuration': { GET: () => perm('operator', 'read') },
  '/v1/catalog/datacenters': { GET: () => 'open' },
  '/v1/catalog/node/:node': { GET: (r) => perm('node', 'read', r.params.node) },
  '/v1/catalog/node-services/:node': { GET: (r) => perm('node', 'read', r.params.node) },
  '/v1/health/node/:node': { GET: (r) => perm('node', 'read', r.params.node) },
  '/v1/catalog/connect/:name': { GET: (r) => perm('service', 'read', r.params.name) },
  '/v1/agent/service/:id': { GET: (r) => agentServiceRead(r) },
  '/v1/agent/health/service/id/:id': { GET: (r) => agentServiceRead(r) },
  '/v1/agent/health/service/name/:name': { GET: (r) => perm('service', 'read', r.params.name) },
  '/v1/agent/check/register': { PUT: agentCheckRegister },
  '/v1/agent/check/deregister/:id': { PUT: checkUpdate },
  '/v1/agent/connect/ca/leaf/:service': { GET: (r) => perm('service', 'write', r.params.service) },
  '/v1/peering/token': { POST: () => perm('peering', 'write') },
  '/v1/peering/establish': { POST: () => perm('peering', 'write') },
  '/v1/peerings': { GET: () => perm('peering', 'read') },
  '/v1/peering/:name': { GET: () => perm('peering', 'read'), DELETE: () => perm('peering', 'write') },
  // Where the peers' servers are, for this cluster's mesh gateways: peering data.
  '/v1/internal/meshpeer/peer-servers': { GET: () => perm('peering', 'read') },
  // Trust bundles are public CA certificates, like /v1/connect/ca/roots.
  '/v1/internal/meshpeer/trust-bundles': { GET: () => 'any-token' },
  // Which peers a service is exported to: asked by its sidecars, as Consul's TrustBundleListByService.
  '/v1/internal/meshpeer/trust-bundles/:service': { GET: (r) => perm('service', 'write', r.params.service) },
  '/v1/acl/token/self': { GET: () => 'any-token' },
  // Consul lets anyone bootstrap (once; later calls are refused).
  '/v1/acl/bootstrap': { PUT: () => 'open' },
  // Policies and tokens: acl:read to read them (secrets hidden without acl:write), acl:write to change.
  '/v1/acl/policy': { PUT: () => perm('acl', 'write') },
  '/v1/acl/policy/:id': {
    GET: () => perm('acl', 'read'),
    PUT: () => perm('acl', 'write'),
    DELETE: () => perm('acl', 'write'),
  },
  '/v1/acl/policy/name/:name': { GET: () => perm('acl', 'read') },
  '/v1/acl/policies': { GET: () => perm('acl', 'read') },
  '/v1/acl/token': { PUT: () => perm('acl', 'write') },
  '/v1/acl/token/:accessor': {
    GET: () => perm('acl', 'read'),
    PUT: () => perm('acl', 'write'),
    DELETE: () => perm('acl', 'write'),
  },
  '/v1/acl/tokens': { GET: () => perm('acl', 'read') },
  '/v1/acl/token/:accessor/clone': { PUT: () => perm('acl', 'write') },
  // Auth methods and binding rules, like policies (a method's Config holds its reviewer JWT).
  '/v1/acl/auth-method': { PUT: () => perm('acl', 'write') },
  '/v1/acl/auth-method/:name': {
    GET: () => perm('acl', 'read'),
    PUT: () => perm('acl', 'write'),
    DELETE: () => perm('acl', 'write'),
  },
  '/v1/acl/auth-methods': { GET: () => perm('acl', 'read') },
  '/v1/acl/binding-rule': { PUT: () => perm('acl', 'write') },
  '/v1/acl/binding-rule/:id': {
    GET: () => perm('acl', 'read'),
    PUT: () => perm('acl', 'write'),
    DELETE: () => perm('acl', 'write'),
  },
  '/v1/acl/binding-rules': { GET: () => perm('acl', 'read') },
  // Login needs no token (the bearer token is the credential); logout's credential is the login token
  // itself, which the handler checks (only a token made by login may log out).
  '/v1/acl/login': { POST: () => 'open', PUT: () => 'open' },
  '/v1/acl/logout': { POST: () => 'open' },
};

type Filter = (payload: unknown, authz: Authorizer) => unknown;

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

function hideSecret(token: unknown, authz: Authorizer): unknown {
  if (typeof token !== 'object' || token === null || !('SecretID' in token)) return token;
  return authz.allowed('acl', 'write') ? token : { ...token, SecretID: '<hidden>' };
}

/** List reads answered with only what the token may read. */
export const LIST_FILTERS: Record<string, Filter> = {
  '/v1/catalog/services': (payload, authz) =>
    typeof payload === 'object' && payload !== null && !Array.isArray(payload)
      ? Object.fromEntries(Object.entries(payload).filter(([name]) => authz.allowed('service', 'read', name)))
      : payload,
  '/v1/catalog/nodes': (payload, authz) =>
    Array.isArray(payload)
      ? payload.filter((n: { Node?: unknown }) => authz.allowed('node', 'read', str(n.Node)))
      : payload,
  '/v1/agent/members': (payload, authz) =>
    Array.isArray(payload)
      ? payload.filter((m: { Name?: unknown }) => authz.allowed('node', 'read', str(m.Name)))
      : payload,
  // A token's secret is shown only to who may change tokens (acl:write), as Consul redacts it.
  '/v1/acl/tokens': (payload, authz) =>
    Array.isArray(payload) ? payload.map((t) => hideSecret(t, authz)) : payload,
  '/v1/acl/token/:accessor': (payload, authz) => hideSecret(payload, authz),
  '/v1/config/:kind': (payload, authz) =>
    Array.isArray(payload)
      ? payload.filter((e: { Kind?: unknown; Name?: unknown }) => {
          if (OPEN_READ_KINDS.has(str(e.Kind))) return true;
          const p = configPermission(str(e.Kind), str(e.Name), 'read');
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
  // Consul's wording, which names the anonymous token and says why it was used.
  const lacks = (what: string) =>
    permissionDenied(
      identity.accessorId === ANONYMOUS_ACCESSOR
        ? `Permission denied: anonymous token lacks permission ${what}. The anonymous token is used implicitly when a request does not specify a token.`
        : `Permission denied: token with AccessorID '${identity.accessorId}' lacks permission ${what}`,
    );
  if (requirement === 'management') throw lacks("'acl:write'");
  if (requirement === 'any-token') return;
  const allowed = (p: Permission) => identity.authorizer.allowed(p.resource, p.level, p.name);
  for (const item of Array.isArray(requirement) ? requirement : [requirement]) {
    if ('anyOf' in item) {
      if (!item.anyOf.some(allowed)) throw lacks(item.anyOf.map(describe).join(' or '));
    } else if (!allowed(item)) throw lacks(describe(item));
  }
}

/**
 * The secret a request carries, in Consul's order: the `token` query parameter, X-Consul-Token, or
 * Authorization: Bearer.
 */
export function requestSecret(req: FastifyRequest): string | undefined {
  const query = (req.query ?? {}) as Record<string, unknown>;
  const fromQuery = Array.isArray(query.token) ? query.token[0] : query.token;
  if (typeof fromQuery === 'string' && fromQuery !== '') return fromQuery;
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
    const config = req.routeOptions.config as { routeName?: string; methods?: readonly string[] } | undefined;
    const routeName = config?.routeName;
    if (routeName === undefined) return; // unmatched: answered 404 without touching anything
    const method = (req.method === 'HEAD' ? 'GET' : req.method) as Method;
    // A method the route does not serve is answered 405 by the route itself, touching nothing. Whether
    // it is served comes from the route, not from this table: a served method missing here needs
    // management, like a missing route.
    if (config?.methods !== undefined && !config.methods.includes(method)) return;
    const rule = ROUTE_PERMISSIONS[routeName]?.[method];
    const body = decodedBody(req);
    const requirement =
      rule === undefined
        ? 'management'
        : rule({
            params: (req.params ?? {}) as Record<string, string>,
            body: body?.value,
            decoder: body?.decoder,
            store: opts.store,
            agentNode: opts.agentNode,
          });
    // An open route does not look at the token at all, as Consul's (a bootstrap carrying a token that
    // does not exist yet, or a stale one, still works).
    if (requirement === 'open') return;
    const identity = opts.acl.resolve(requestSecret(req));
    identities.set(req, identity);
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
