// ACL policies and tokens, kept in the store (so they survive restarts), and the resolution of a
// request's secret into an identity with an authorizer. The initial management token lives only in the
// server's configuration; the anonymous token is Consul's (its policies may be set like any token's and
// are then stored). The built-in policies (src/acl/builtin-policies.ts) always exist: global-management
// makes any token linked to it management. A token's service and node identities grant what Consul's
// synthetic policies for them grant (src/acl/identities.ts). Auth methods, binding rules and login
// tokens: src/acl/auth-methods.ts (tokens made by a login carry their AuthMethod).
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { invalid, notFound, permissionDenied } from '../shared/errors.js';
import type { Store, StoredEntry, WriteTxn } from '../store/store.js';
import {
  AUTH_METHODS,
  AuthMethods,
  BINDING_RULES,
  type LoginToken,
  type LoginTokenStore,
} from './auth-methods.js';
import { type Authorizer, managementAuthorizer, PolicyAuthorizer } from './authorizer.js';
import { BUILTIN_POLICIES, type BuiltinPolicy, GLOBAL_MANAGEMENT_ID } from './builtin-policies.js';
import {
  decodeNodeIdentities,
  decodeServiceIdentities,
  identityRules,
  type NodeIdentity,
  type ServiceIdentity,
} from './identities.js';
import { httpsTokenReviewer, type TokenReviewer } from './kubernetes-auth.js';
import { type ParsedRules, parseRules } from './rules.js';

export { GLOBAL_MANAGEMENT_ID, GLOBAL_MANAGEMENT_NAME } from './builtin-policies.js';

export const POLICIES = 'acl/policies';
export const TOKENS = 'acl/tokens';
/** SecretID → AccessorID. */
export const TOKEN_SECRETS = 'acl/token-secrets';
/** Whether the ACL system is bootstrapped (src/acl/bootstrap.ts). */
export const ACL_BOOTSTRAP_TABLE = 'acl/bootstrap';
export const ACL_TABLES = [POLICIES, TOKENS, TOKEN_SECRETS, AUTH_METHODS, BINDING_RULES] as const;

export const ANONYMOUS_ACCESSOR = '00000000-0000-0000-0000-000000000002';
export const ANONYMOUS_SECRET = 'anonymous';

export interface AclOptions {
  initialManagementToken?: string;
  defaultPolicy: 'allow' | 'deny';
  /** This server's datacenter: policies and identities limited to other datacenters grant nothing here. */
  datacenter?: string;
  /** How kubernetes auth methods check a login's JWT (default: a TokenReview over HTTPS). */
  tokenReviewer?: TokenReviewer;
}

interface PolicyRecord {
  ID: string;
  Name: string;
  Description: string;
  Rules: string;
  Datacenters?: string[];
  parsed: ParsedRules;
}

interface TokenRecord {
  AccessorID: string;
  SecretID: string;
  Description: string;
  PolicyIDs: string[];
  ServiceIdentities?: ServiceIdentity[];
  NodeIdentities?: NodeIdentity[];
  /** The auth method a login made this token through. */
  AuthMethod?: string;
  /** After this (ISO time) the token no longer exists for requests and reads. */
  ExpirationTime?: string;
  CreateTime: string;
}

export interface Identity {
  accessorId: string;
  authorizer: Authorizer;
  /** The token (the anonymous token when the request gave none). */
  token?: TokenView;
}

export interface PolicyView {
  ID: string;
  Name: string;
  Description: string;
  Rules: string;
  Datacenters?: string[];
  CreateIndex: number;
  ModifyIndex: number;
}

export interface TokenView {
  AccessorID: string;
  SecretID: string;
  Description: string;
  Policies: Array<{ ID: string; Name: string }>;
  ServiceIdentities?: ServiceIdentity[];
  NodeIdentities?: NodeIdentity[];
  AuthMethod?: string;
  ExpirationTime?: string;
  Local: boolean;
  CreateTime: string;
  CreateIndex: number;
  ModifyIndex: number;
}

export interface PolicyInput {
  ID?: unknown;
  Name?: unknown;
  Description?: unknown;
  Rules?: unknown;
  Datacenters?: unknown;
}

export interface TokenInput {
  AccessorID?: unknown;
  SecretID?: unknown;
  Description?: unknown;
  Policies?: unknown;
  ServiceIdentities?: unknown;
  NodeIdentities?: unknown;
  Local?: unknown;
}

/** GET /v1/acl/tokens filters; at most one may be given, as in Consul. */
export interface TokenFilter {
  policy?: string;
  role?: string;
  serviceName?: string;
  authMethod?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const POLICY_NAME = /^[A-Za-z0-9\-_]{1,128}$/;

function uuidFromHash(text: string): string {
  const h = createHash('sha256').update(text).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalid(`${field}: must be a string`);
  return value;
}

function stringList(value: unknown, field: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw invalid(`${field}: must be a list of strings`);
  }
  return value;
}

export class AclService implements LoginTokenStore {
  readonly tables = ACL_TABLES;
  /** Auth methods, binding rules and login. */
  readonly authMethods: AuthMethods;
  private readonly managementAccessor: string | undefined;

  constructor(
    private readonly store: Store,
    private readonly options: AclOptions,
  ) {
    this.managementAccessor =
      options.initialManagementToken === undefined
        ? undefined
        : uuidFromHash(`meshpeer-initial-management:${options.initialManagementToken}`);
    this.authMethods = new AuthMethods(
      store,
      this,
      options.tokenReviewer ?? httpsTokenReviewer,
      options.datacenter ?? 'dc1',
    );
  }

  /** What applies where no rule does (reported in /v1/agent/self; sidecars default intentions to it). */
  get defaultPolicy(): 'allow' | 'deny' {
    return this.options.defaultPolicy;
  }

  /** Whether the ACL system is bootstrapped (by PUT /v1/acl/bootstrap or a configured management token). */
  get bootstrapped(): boolean {
    return this.store.list(ACL_BOOTSTRAP_TABLE).length > 0;
  }

  /** The identity of a request's secret (undefined: none given, the anonymous token). */
  resolve(secret: string | undefined): Identity {
    if (secret === undefined || secret === '' || secret === ANONYMOUS_SECRET) {
      const token = this.anonymousView();
      return { accessorId: ANONYMOUS_ACCESSOR, authorizer: this.authorizer(this.anonymousRecord()), token };
    }
    const initial = this.options.initialManagementToken;
    if (initial !== undefined && sameSecret(secret, initial)) {
      const token = this.managementView();
      if (token !== undefined) {
        return { accessorId: token.AccessorID, authorizer: managementAuthorizer, token };
      }
    }
    const accessor = this.store.get<string>(TOKEN_SECRETS, secret)?.value;
    const entry = accessor === undefined ? undefined : this.store.get<TokenRecord>(TOKENS, accessor);
    if (entry === undefined || expired(entry.value)) {
      throw permissionDenied(
        this.bootstrapped
          ? 'ACL not found'
          : 'ACL system must be bootstrapped before making any requests that require authorization: ACL not found',
      );
    }
    return {
      accessorId: entry.value.AccessorID,
      authorizer: this.authorizer(entry.value),
      token: this.tokenView(entry),
    };
  }

  private authorizer(token: TokenRecord): Authorizer {
    if (token.PolicyIDs.includes(GLOBAL_MANAGEMENT_ID)) return managementAuthorizer;
    const dc = this.options.datacenter;
    const rules = token.PolicyIDs.flatMap((id) => {
      const policy = this.policyRecord(id);
      if (policy === undefined) return [];
      const dcs = policy.Datacenters ?? [];
      return dc === undefined || dcs.length === 0 || dcs.includes(dc) ? [policy.parsed] : [];
    });
    rules.push(...identityRules(token.ServiceIdentities ?? [], token.NodeIdentities ?? [], dc));
    return new PolicyAuthorizer(rules, this.options.defaultPolicy === 'allow');
  }

  // ---- policies ----

  /** A stored policy, or a built-in one (stored only once renamed). */
  private policyRecord(id: string): PolicyRecord | undefined {
    return this.store.get<PolicyRecord>(POLICIES, id)?.value ?? BUILTIN_POLICIES.get(id);
  }

  listPolicies(): PolicyView[] {
    const stored = this.store.list<PolicyRecord>(POLICIES);
    const storedIds = new Set(stored.map((e) => e.key));
    const builtins = [...BUILTIN_POLICIES.values()].filter((p) => !storedIds.has(p.ID)).map(builtinView);
    return [...builtins, ...stored.map(policyView)];
  }

  readPolicy(id: string): PolicyView {
    const entry = this.store.get<PolicyRecord>(POLICIES, id);
    if (entry !== undefined) return policyView(entry);
    const builtin = BUILTIN_POLICIES.get(id);
    if (builtin !== undefined) return builtinView(builtin);
    throw notFound(`ACL policy not found: ${JSON.stringify(id)}`);
  }

  /**
   * Creates a policy (id undefined) or replaces one. A built-in policy may be renamed or described
   * anew, as in Consul, but its rules and datacenters cannot change.
   */
  async writePolicy(input: PolicyInput, id?: string): Promise<PolicyView> {
    const name = optionalString(input.Name, 'Name');
    if (name === undefined || name === '') throw invalid('Invalid Policy: no Name is set');
    const rules = optionalString(input.Rules, 'Rules') ?? '';
    const description = optionalString(input.Description, 'Description') ?? '';
    const datacenters = stringList(input.Datacenters, 'Datacenters');
    const bodyId = optionalString(input.ID, 'ID');
    if (id !== undefined && bodyId !== undefined && bodyId !== '' && bodyId !== id) {
      throw invalid('Policy ID in URL and payload do not match');
    }
    const builtin = id === undefined ? undefined : BUILTIN_POLICIES.get(id);
    if (builtin !== undefined) {
      const which = `the builtin ${builtin.Name.replace(/^builtin\//, '')} policy`;
      if (datacenters.length > 0) throw invalid(`Changing the Datacenters of ${which} is not permitted`);
      if (rules !== builtin.Rules) throw invalid(`Changing the Rules for ${which} is not permitted`);
    }
    if (!POLICY_NAME.test(name) && !(builtin !== undefined && name === builtin.Name)) {
      throw invalid("Invalid Policy: invalid Name. Only alphanumeric characters, '-' and '_' are allowed");
    }
    const parsed = builtin?.parsed ?? (await parseRules(rules));
    const { result } = await this.store.write((tx) => {
      if (id !== undefined && builtin === undefined && tx.get(POLICIES, id) === undefined) {
        throw notFound(`ACL policy not found: ${JSON.stringify(id)}`);
      }
      const policyId = id ?? randomUUID();
      const clash = this.policiesIn(tx).find((p) => p.Name === name && p.ID !== policyId);
      if (clash !== undefined) {
        throw invalid(`Invalid Policy: A Policy with Name ${JSON.stringify(name)} already exists`);
      }
      const record: PolicyRecord = {
        ID: policyId,
        Name: name,
        Description: description,
        Rules: rules,
        parsed,
      };
      if (datacenters.length > 0) record.Datacenters = [...new Set(datacenters)];
      return policyView(tx.put<PolicyRecord>(POLICIES, policyId, record));
    });
    return result;
  }

  async deletePolicy(id: string): Promise<void> {
    const builtin = BUILTIN_POLICIES.get(id);
    if (builtin !== undefined) {
      throw invalid(
        `Delete operation not permitted on the builtin ${builtin.Name.replace(/^builtin\//, '')} policy`,
      );
    }
    const { result } = await this.store.write((tx) => tx.delete(POLICIES, id));
    if (!result) throw notFound(`ACL policy not found: ${JSON.stringify(id)}`);
  }

  /** Every policy as a transaction sees them, the built-in ones included. */
  private policiesIn(tx: WriteTxn): PolicyRecord[] {
    const stored = tx.list<PolicyRecord>(POLICIES).map((e) => e.value);
    const ids = new Set(stored.map((p) => p.ID));
    return [...stored, ...[...BUILTIN_POLICIES.values()].filter((p) => !ids.has(p.ID))];
  }

  // ---- tokens ----

  listTokens(filter: TokenFilter = {}): TokenView[] {
    const given = Object.values(filter).filter((v) => v !== undefined && v !== '');
    if (given.length > 1) {
      throw invalid('can only filter by one of policy, role, serviceName, or methodName at a time');
    }
    const records: Array<{ record: TokenRecord; view: TokenView }> = [];
    const management = this.managementView();
    if (management !== undefined) {
      records.push({ record: this.managementRecord() as TokenRecord, view: management });
    }
    if (this.store.get(TOKENS, ANONYMOUS_ACCESSOR) === undefined) {
      records.push({ record: this.anonymousRecord(), view: this.anonymousView() });
    }
    for (const e of this.store.list<TokenRecord>(TOKENS)) {
      if (!expired(e.value)) records.push({ record: e.value, view: this.tokenView(e) });
    }
    return records
      .filter(({ record }) => {
        if (filter.policy) return record.PolicyIDs.includes(filter.policy);
        if (filter.serviceName)
          return (record.ServiceIdentities ?? []).some((s) => s.ServiceName === filter.serviceName);
        if (filter.authMethod) return record.AuthMethod === filter.authMethod;
        // meshpeer has no roles: no token has one.
        if (filter.role) return false;
        return true;
      })
      .map(({ view }) => view);
  }

  readToken(accessor: string): TokenView {
    const management = this.managementView();
    if (management !== undefined && accessor === management.AccessorID) return management;
    const entry = this.store.get<TokenRecord>(TOKENS, accessor);
    if (entry !== undefined && !expired(entry.value)) return this.tokenView(entry);
    if (accessor === ANONYMOUS_ACCESSOR) return this.anonymousView();
    throw notFound(`ACL token not found: ${JSON.stringify(accessor)}`);
  }

  async createToken(input: TokenInput): Promise<TokenView> {
    const accessor = optionalString(input.AccessorID, 'AccessorID') || randomUUID();
    const secret = optionalString(input.SecretID, 'SecretID') || randomUUID();
    if (!UUID.test(accessor)) throw invalid('Invalid Token: AccessorID: must be a UUID');
    if (!UUID.test(secret)) throw invalid('Invalid Token: SecretID: must be a UUID');
    if (input.Local === true)
      throw invalid('Invalid Token: local tokens are not supported (meshpeer has one datacenter)');
    const fields = decodeTokenFields(input);
    const { result } = await this.store.write((tx) => {
      const policyIds = this.policyLinks(tx, fields.links);
      if (tx.get(TOKENS, accessor) !== undefined || accessor === this.managementAccessor) {
        throw invalid('Invalid Token: AccessorID already in use');
      }
      if (tx.get(TOKEN_SECRETS, secret) !== undefined || secret === this.options.initialManagementToken) {
        throw invalid('Invalid Token: SecretID already in use');
      }
      tx.put(TOKEN_SECRETS, secret, accessor);
      return tx.put<TokenRecord>(TOKENS, accessor, {
        AccessorID: accessor,
        SecretID: secret,
        Description: fields.description,
        PolicyIDs: policyIds,
        ...identitiesOf(fields),
        CreateTime: new Date().toISOString(),
      });
    });
    return this.tokenView(result);
  }

  /**
   * Replaces a token's description, policies and identities (PUT /v1/acl/token/:accessor), as Consul
   * does; its secret and locality cannot change. The anonymous token may be updated (its policies apply
   * to requests without a token); the initial management token is the configuration's.
   */
  async updateToken(accessor: string, input: TokenInput): Promise<TokenView> {
    const bodyAccessor = optionalString(input.AccessorID, 'AccessorID');
    if (bodyAccessor !== undefined && bodyAccessor !== '' && bodyAccessor !== accessor) {
      throw invalid('Token Accessor ID in URL and payload do not match');
    }
    if (accessor === this.managementAccessor) {
      throw invalid('the initial management token is configured on the command line and cannot be changed');
    }
    if (input.Local === true) throw invalid('Cannot toggle local mode of a token');
    const secret = optionalString(input.SecretID, 'SecretID');
    const fields = decodeTokenFields(input);
    const { result } = await this.store.write((tx) => {
      const existing =
        tx.get<TokenRecord>(TOKENS, accessor)?.value ??
        (accessor === ANONYMOUS_ACCESSOR ? this.anonymousRecord() : undefined);
      if (existing === undefined) throw notFound(`Cannot find token ${JSON.stringify(accessor)}`);
      if (secret !== undefined && secret !== '' && secret !== existing.SecretID) {
        throw invalid("Changing a token's SecretID is not permitted");
      }
      const policyIds = this.policyLinks(tx, fields.links);
      if (accessor !== ANONYMOUS_ACCESSOR) tx.put(TOKEN_SECRETS, existing.SecretID, accessor);
      return tx.put<TokenRecord>(TOKENS, accessor, {
        AccessorID: accessor,
        SecretID: existing.SecretID,
        Description: fields.description,
        PolicyIDs: policyIds,
        ...identitiesOf(fields),
        ...(existing.AuthMethod === undefined ? {} : { AuthMethod: existing.AuthMethod }),
        ...(existing.ExpirationTime === undefined ? {} : { ExpirationTime: existing.ExpirationTime }),
        CreateTime: existing.CreateTime,
      });
    });
    return this.tokenView(result);
  }

  async deleteToken(accessor: string): Promise<void> {
    if (accessor === this.managementAccessor) {
      throw invalid('the initial management token is configured on the command line and cannot be deleted');
    }
    if (accessor === ANONYMOUS_ACCESSOR)
      throw invalid('Delete operation not permitted on the anonymous token');
    const { result } = await this.store.write((tx) => {
      const entry = tx.get<TokenRecord>(TOKENS, accessor);
      if (entry === undefined) return false;
      tx.delete(TOKEN_SECRETS, entry.value.SecretID);
      return tx.delete(TOKENS, accessor);
    });
    if (!result) throw notFound(`ACL token not found: ${JSON.stringify(accessor)}`);
  }

  // ---- login tokens (src/acl/auth-methods.ts) ----

  putLoginToken(tx: WriteTxn, token: LoginToken): { accessor: string } {
    // Expired login tokens of the method go now (they already grant nothing).
    for (const e of tx.list<TokenRecord>(TOKENS)) {
      if (e.value.AuthMethod === token.authMethod && expired(e.value)) {
        tx.delete(TOKEN_SECRETS, e.value.SecretID);
        tx.delete(TOKENS, e.key);
      }
    }
    const accessor = randomUUID();
    const secret = randomUUID();
    tx.put(TOKEN_SECRETS, secret, accessor);
    tx.put<TokenRecord>(TOKENS, accessor, {
      AccessorID: accessor,
      SecretID: secret,
      Description: token.description,
      PolicyIDs: [],
      ...identitiesOf({
        description: token.description,
        links: [],
        serviceIdentities: token.serviceIdentities,
        nodeIdentities: token.nodeIdentities,
      }),
      AuthMethod: token.authMethod,
      ...(token.expirationTime === undefined ? {} : { ExpirationTime: token.expirationTime }),
      CreateTime: new Date().toISOString(),
    });
    return { accessor };
  }

  deleteLoginTokens(tx: WriteTxn, authMethod: string): void {
    for (const e of tx.list<TokenRecord>(TOKENS)) {
      if (e.value.AuthMethod !== authMethod) continue;
      tx.delete(TOKEN_SECRETS, e.value.SecretID);
      tx.delete(TOKENS, e.key);
    }
  }

  /** Logs in (POST /v1/acl/login): the new token. */
  async login(input: Parameters<AuthMethods['login']>[0]): Promise<TokenView> {
    return this.readToken(await this.authMethods.login(input));
  }

  /** Logs out (POST /v1/acl/logout): deletes the request's own token, which a login must have made. */
  async logout(secret: string | undefined): Promise<void> {
    if (secret === undefined || secret === '' || secret === ANONYMOUS_SECRET) {
      throw permissionDenied('ACL not found: logout needs the token a login returned');
    }
    if (secret === this.options.initialManagementToken) {
      throw permissionDenied('Permission denied: only a token created by login can log out');
    }
    const { result } = await this.store.write((tx) => {
      const accessor = tx.get<string>(TOKEN_SECRETS, secret)?.value;
      const entry = accessor === undefined ? undefined : tx.get<TokenRecord>(TOKENS, accessor);
      if (entry === undefined || expired(entry.value)) return 'not-found' as const;
      if (entry.value.AuthMethod === undefined) return 'not-login' as const;
      tx.delete(TOKEN_SECRETS, secret);
      tx.delete(TOKENS, entry.key);
      return 'ok' as const;
    });
    if (result === 'not-found') throw permissionDenied('ACL not found');
    if (result === 'not-login') {
      throw permissionDenied('Permission denied: only a token created by login can log out');
    }
  }

  /** Policy links by ID or Name, resolved to IDs (deduplicated, in order). */
  private policyLinks(tx: WriteTxn, links: unknown[]): string[] {
    const policies = this.policiesIn(tx);
    const ids = links.map((link: unknown, i) => {
      const l = (typeof link === 'object' && link !== null ? link : {}) as { ID?: unknown; Name?: unknown };
      const byId = typeof l.ID === 'string' && l.ID !== '';
      const found = policies.find((p) => (byId ? p.ID === l.ID : p.Name === l.Name));
      if (found === undefined) {
        const what = byId ? `ID ${l.ID}` : `Name ${JSON.stringify(l.Name)}`;
        throw invalid(`Invalid Token: Policies[${i}]: no policy with ${what}`);
      }
      return found.ID;
    });
    return [...new Set(ids)];
  }

  private managementRecord(): TokenRecord | undefined {
    const secret = this.options.initialManagementToken;
    if (secret === undefined || this.managementAccessor === undefined) return undefined;
    return {
      AccessorID: this.managementAccessor,
      SecretID: secret,
      Description: 'Initial Management Token',
      PolicyIDs: [GLOBAL_MANAGEMENT_ID],
      CreateTime: new Date(0).toISOString(),
    };
  }

  private managementView(): TokenView | undefined {
    const record = this.managementRecord();
    return record === undefined ? undefined : this.viewOf(record, 0, 0);
  }

  /** The anonymous token: stored once its policies were set, Consul's default until then. */
  private anonymousRecord(): TokenRecord {
    return (
      this.store.get<TokenRecord>(TOKENS, ANONYMOUS_ACCESSOR)?.value ?? {
        AccessorID: ANONYMOUS_ACCESSOR,
        SecretID: ANONYMOUS_SECRET,
        Description: 'Anonymous Token',
        PolicyIDs: [],
        CreateTime: new Date(0).toISOString(),
      }
    );
  }

  private anonymousView(): TokenView {
    const entry = this.store.get<TokenRecord>(TOKENS, ANONYMOUS_ACCESSOR);
    return entry !== undefined ? this.tokenView(entry) : this.viewOf(this.anonymousRecord(), 0, 0);
  }

  private tokenView(entry: StoredEntry<TokenRecord>): TokenView {
    return this.viewOf(entry.value, entry.createIndex, entry.modifyIndex);
  }

  private viewOf(t: TokenRecord, createIndex: number, modifyIndex: number): TokenView {
    const view: TokenView = {
      AccessorID: t.AccessorID,
      SecretID: t.SecretID,
      Description: t.Description,
      Policies: t.PolicyIDs.flatMap((id) => {
        const p = this.policyRecord(id);
        return p === undefined ? [] : [{ ID: id, Name: p.Name }];
      }),
      Local: false,
      CreateTime: t.CreateTime,
      CreateIndex: createIndex,
      ModifyIndex: modifyIndex,
    };
    if (t.ServiceIdentities?.length) view.ServiceIdentities = t.ServiceIdentities;
    if (t.NodeIdentities?.length) view.NodeIdentities = t.NodeIdentities;
    if (t.AuthMethod !== undefined) view.AuthMethod = t.AuthMethod;
    if (t.ExpirationTime !== undefined) view.ExpirationTime = t.ExpirationTime;
    return view;
  }
}

function expired(t: TokenRecord): boolean {
  return t.ExpirationTime !== undefined && Date.parse(t.ExpirationTime) <= Date.now();
}

interface TokenFields {
  description: string;
  links: unknown[];
  serviceIdentities: ServiceIdentity[];
  nodeIdentities: NodeIdentity[];
}

function decodeTokenFields(input: TokenInput): TokenFields {
  const links = input.Policies ?? [];
  if (!Array.isArray(links)) throw invalid('Invalid Token: Policies: must be a list of {ID} or {Name}');
  return {
    description: optionalString(input.Description, 'Description') ?? '',
    links,
    serviceIdentities: decodeServiceIdentities(input.ServiceIdentities),
    nodeIdentities: decodeNodeIdentities(input.NodeIdentities),
  };
}

function identitiesOf(f: TokenFields): Pick<TokenRecord, 'ServiceIdentities' | 'NodeIdentities'> {
  return {
    ...(f.serviceIdentities.length > 0 ? { ServiceIdentities: f.serviceIdentities } : {}),
    ...(f.nodeIdentities.length > 0 ? { NodeIdentities: f.nodeIdentities } : {}),
  };
}

function builtinView(p: BuiltinPolicy): PolicyView {
  return {
    ID: p.ID,
    Name: p.Name,
    Description: p.Description,
    Rules: p.Rules,
    CreateIndex: 0,
    ModifyIndex: 0,
  };
}

function policyView(entry: StoredEntry<PolicyRecord>): PolicyView {
  const p = entry.value;
  const view: PolicyView = {
    ID: p.ID,
    Name: p.Name,
    Description: p.Description,
    Rules: p.Rules,
    CreateIndex: entry.createIndex,
    ModifyIndex: entry.modifyIndex,
  };
  if (p.Datacenters?.length) view.Datacenters = p.Datacenters;
  return view;
}
