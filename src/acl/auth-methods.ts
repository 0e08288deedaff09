// ACL auth methods and binding rules, kept in the store beside tokens and policies, and login/logout:
// a login proves an identity to an auth method (a pod's service-account JWT, checked by the Kubernetes
// API server) and gets a new token whose identities the method's binding rules grant; logout deletes
// that token. Only the `kubernetes` type exists.
import { randomUUID } from 'node:crypto';
import { parseGoDuration } from '../config-entries/duration.js';
import { invalid, notFound, permissionDenied } from '../shared/errors.js';
import type { Store, StoredEntry, WriteTxn } from '../store/store.js';
import {
  type BindingRuleFields,
  type BindingRuleInput,
  bindIdentities,
  decodeBindingRule,
} from './binding-rules.js';
import {
  decodeKubernetesConfig,
  KUBERNETES_FIELDS,
  type KubernetesAuthConfig,
  kubernetesLogin,
  type TokenReviewer,
} from './kubernetes-auth.js';

export const AUTH_METHODS = 'acl/auth-methods';
export const BINDING_RULES = 'acl/binding-rules';

const METHOD_NAME = /^[A-Za-z0-9\-_]{1,128}$/;
const TYPES = ['kubernetes'];

interface AuthMethodRecord {
  Name: string;
  Type: 'kubernetes';
  DisplayName: string;
  Description: string;
  TokenLocality: '' | 'local' | 'global';
  /** How long a login token lives (Go duration, e.g. "4m20s"); '' for until logout. */
  MaxTokenTTL?: string;
  Config: KubernetesAuthConfig;
}

export interface AuthMethodView
  extends Omit<AuthMethodRecord, 'Config' | 'DisplayName' | 'TokenLocality' | 'MaxTokenTTL'> {
  DisplayName?: string;
  TokenLocality?: string;
  MaxTokenTTL?: string;
  /** Left out of lists, as Consul's. */
  Config?: KubernetesAuthConfig;
  CreateIndex: number;
  ModifyIndex: number;
}

export interface AuthMethodInput {
  Name?: unknown;
  Type?: unknown;
  DisplayName?: unknown;
  Description?: unknown;
  MaxTokenTTL?: unknown;
  TokenLocality?: unknown;
  Config?: unknown;
}

interface BindingRuleRecord extends BindingRuleFields {
  ID: string;
}

export interface BindingRuleView extends BindingRuleRecord {
  CreateIndex: number;
  ModifyIndex: number;
}

export interface LoginInput {
  AuthMethod?: unknown;
  BearerToken?: unknown;
  Meta?: unknown;
}

/** What a login makes: the token to store (AclService.storeLoginToken writes it). */
export interface LoginToken {
  authMethod: string;
  description: string;
  serviceIdentities: ReturnType<typeof bindIdentities>['serviceIdentities'];
  nodeIdentities: ReturnType<typeof bindIdentities>['nodeIdentities'];
  /** When the token stops working (the method's MaxTokenTTL from the login); none: until logout. */
  expirationTime?: string;
}

/** The token side, as AclService provides it. */
export interface LoginTokenStore {
  /** Writes a login token in tx (the method still existing is checked in the same transaction). */
  putLoginToken(tx: WriteTxn, token: LoginToken): { accessor: string };
  /** Deletes every token made by logins through a method, in tx. */
  deleteLoginTokens(tx: WriteTxn, authMethod: string): void;
}

function text(value: unknown, field: string, what = 'Auth Method'): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw invalid(`Invalid ${what}: ${field}: must be a string`);
  return value;
}

export class AuthMethods {
  readonly tables = [AUTH_METHODS, BINDING_RULES] as const;

  constructor(
    private readonly store: Store,
    private readonly tokens: LoginTokenStore,
    private readonly reviewer: TokenReviewer,
    private readonly datacenter: string,
  ) {}

  // ---- auth methods ----

  listMethods(): AuthMethodView[] {
    return this.store.list<AuthMethodRecord>(AUTH_METHODS).map((e) => {
      const { Config: _config, ...stub } = methodView(e);
      return stub;
    });
  }

  readMethod(name: string): AuthMethodView {
    const entry = this.store.get<AuthMethodRecord>(AUTH_METHODS, name);
    if (entry === undefined) throw notFound(`ACL auth method not found: ${JSON.stringify(name)}`);
    return methodView(entry);
  }

  /** Creates a method (name undefined) or replaces one; Name and Type cannot change. */
  async writeMethod(input: AuthMethodInput, name?: string): Promise<AuthMethodView> {
    const bodyName = text(input.Name, 'Name');
    if (name !== undefined && bodyName !== '' && bodyName !== name) {
      throw invalid('Auth Method Name in URL and payload do not match');
    }
    const methodName = name ?? bodyName;
    if (methodName === '') throw invalid('Invalid Auth Method: no Name is set');
    if (!METHOD_NAME.test(methodName)) {
      throw invalid(
        "Invalid Auth Method: invalid Name. Only alphanumeric characters, '-' and '_' are allowed",
      );
    }
    const type = text(input.Type, 'Type');
    if (type === '') throw invalid('Invalid Auth Method: Type is required');
    if (!TYPES.includes(type)) {
      throw invalid(`Invalid Auth Method: Type should be one of: ${TYPES.join(', ')}`);
    }
    const ttl = decodeTtl(input.MaxTokenTTL);
    const locality = text(input.TokenLocality, 'TokenLocality');
    if (locality !== '' && locality !== 'local' && locality !== 'global') {
      throw invalid(`Invalid Auth Method: TokenLocality should be one of 'local' or 'global'`);
    }
    const config = decodeKubernetesConfig(input.Config);
    const record: AuthMethodRecord = {
      Name: methodName,
      Type: 'kubernetes',
      DisplayName: text(input.DisplayName, 'DisplayName'),
      Description: text(input.Description, 'Description'),
      TokenLocality: locality,
      ...(ttl === 0 ? {} : { MaxTokenTTL: formatDuration(ttl) }),
      Config: config,
    };
    const { result } = await this.store.write((tx) => {
      const existing = tx.get<AuthMethodRecord>(AUTH_METHODS, methodName);
      if (name === undefined && existing !== undefined) {
        throw invalid(
          `Invalid Auth Method: An Auth Method with Name ${JSON.stringify(methodName)} already exists`,
        );
      }
      if (name !== undefined && existing === undefined) {
        throw notFound(`ACL auth method not found: ${JSON.stringify(name)}`);
      }
      if (existing !== undefined && existing.value.Type !== record.Type) {
        throw invalid('Invalid Auth Method: the Type of an auth method cannot change');
      }
      return methodView(tx.put(AUTH_METHODS, methodName, record));
    });
    return result;
  }

  /** Deletes a method with its binding rules and every token logins made through it, as Consul does. */
  async deleteMethod(name: string): Promise<void> {
    const { result } = await this.store.write((tx) => {
      if (!tx.delete(AUTH_METHODS, name)) return false;
      for (const rule of tx.list<BindingRuleRecord>(BINDING_RULES)) {
        if (rule.value.AuthMethod === name) tx.delete(BINDING_RULES, rule.key);
      }
      this.tokens.deleteLoginTokens(tx, name);
      return true;
    });
    if (!result) throw notFound(`ACL auth method not found: ${JSON.stringify(name)}`);
  }

  // ---- binding rules ----

  listRules(authMethod?: string): BindingRuleView[] {
    return this.store
      .list<BindingRuleRecord>(BINDING_RULES)
      .filter((e) => !authMethod || e.value.AuthMethod === authMethod)
      .map(ruleView);
  }

  readRule(id: string): BindingRuleView {
    const entry = this.store.get<BindingRuleRecord>(BINDING_RULES, id);
    if (entry === undefined) throw notFound(`ACL binding rule not found: ${JSON.stringify(id)}`);
    return ruleView(entry);
  }

  /** Creates a rule (id undefined) or replaces one; its AuthMethod must exist and cannot change. */
  async writeRule(input: BindingRuleInput, id?: string): Promise<BindingRuleView> {
    const bodyId = text(input.ID, 'ID', 'Binding Rule');
    if (id !== undefined && bodyId !== '' && bodyId !== id) {
      throw invalid('Binding Rule ID in URL and payload do not match');
    }
    if (id === undefined && bodyId !== '') {
      throw invalid(
        'Invalid Binding Rule: the ID is chosen by the server; update with PUT /v1/acl/binding-rule/:id',
      );
    }
    const fields = decodeBindingRule(input, KUBERNETES_FIELDS);
    const { result } = await this.store.write((tx) => {
      if (tx.get(AUTH_METHODS, fields.AuthMethod) === undefined) {
        throw invalid(`Invalid Binding Rule: unknown auth method ${JSON.stringify(fields.AuthMethod)}`);
      }
      if (id !== undefined) {
        const existing = tx.get<BindingRuleRecord>(BINDING_RULES, id);
        if (existing === undefined) throw notFound(`ACL binding rule not found: ${JSON.stringify(id)}`);
        if (existing.value.AuthMethod !== fields.AuthMethod) {
          throw invalid('Invalid Binding Rule: the AuthMethod of a binding rule cannot change');
        }
      }
      const ruleId = id ?? randomUUID();
      return ruleView(tx.put<BindingRuleRecord>(BINDING_RULES, ruleId, { ID: ruleId, ...fields }));
    });
    return result;
  }

  async deleteRule(id: string): Promise<void> {
    const { result } = await this.store.write((tx) => tx.delete(BINDING_RULES, id));
    if (!result) throw notFound(`ACL binding rule not found: ${JSON.stringify(id)}`);
  }

  // ---- login ----

  /**
   * Checks the bearer token with the method, binds identities by its rules and stores a new token for
   * them (returning its accessor). A login no rule matches gets no token (403), as in Consul.
   */
  async login(input: LoginInput): Promise<string> {
    const methodName = text(input.AuthMethod, 'AuthMethod', 'Login request');
    if (methodName === '') throw invalid('Invalid Login request: AuthMethod is required');
    const bearer = text(input.BearerToken, 'BearerToken', 'Login request');
    const meta = decodeMeta(input.Meta);
    const method = this.store.get<AuthMethodRecord>(AUTH_METHODS, methodName)?.value;
    if (method === undefined) {
      throw invalid(`Invalid Login request: auth method ${JSON.stringify(methodName)} not found`);
    }
    const fields = await kubernetesLogin(this.reviewer, methodName, method.Config, bearer);
    const rules = this.listRules(methodName);
    const bound = bindIdentities(rules, fields, this.datacenter);
    if (bound.serviceIdentities.length === 0 && bound.nodeIdentities.length === 0) {
      throw permissionDenied(
        `Permission denied: auth method ${JSON.stringify(methodName)} has no binding rule that matches service account ` +
          `${fields['serviceaccount.namespace']}/${fields['serviceaccount.name']}`,
      );
    }
    const ttl = method.MaxTokenTTL === undefined ? 0 : (parseGoDuration(method.MaxTokenTTL) ?? 0);
    const description =
      Object.keys(meta).length === 0
        ? 'token created via login'
        : `token created via login: ${JSON.stringify(meta)}`;
    const { result } = await this.store.write((tx) => {
      if (tx.get(AUTH_METHODS, methodName) === undefined) {
        throw invalid(`Invalid Login request: auth method ${JSON.stringify(methodName)} not found`);
      }
      return this.tokens.putLoginToken(tx, {
        authMethod: methodName,
        description,
        serviceIdentities: bound.serviceIdentities,
        nodeIdentities: bound.nodeIdentities,
        ...(ttl === 0 ? {} : { expirationTime: new Date(Date.now() + ttl).toISOString() }),
      }).accessor;
    });
    return result;
  }
}

const MIN_TTL_MS = 60_000;
const MAX_TTL_MS = 24 * 3_600_000;

/** MaxTokenTTL in ms (0: none): a Go duration string, or integer nanoseconds; 1m to 24h, as in Consul. */
function decodeTtl(value: unknown): number {
  if (value === undefined || value === null || value === '' || value === 0) return 0;
  const ms =
    typeof value === 'number' && Number.isInteger(value) && value >= 0
      ? value / 1e6
      : typeof value === 'string'
        ? parseGoDuration(value)
        : undefined;
  if (ms === undefined || ms < 0) {
    throw invalid(
      `Invalid Auth Method: MaxTokenTTL: ${JSON.stringify(value)} is not a duration like "10m" or "1h"`,
    );
  }
  if (ms === 0) return 0;
  if (ms < MIN_TTL_MS)
    throw invalid(`Invalid Auth Method: MaxTokenTTL ${formatDuration(ms)} cannot be less than 1m0s`);
  if (ms > MAX_TTL_MS)
    throw invalid(`Invalid Auth Method: MaxTokenTTL ${formatDuration(ms)} cannot be more than 24h0m0s`);
  return ms;
}

/** ms as Go formats a duration ("4m20s", "1h0m0s", "1.5s"). */
export function formatDuration(ms: number): string {
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Number((((ms % 60_000) / 1000) as number).toFixed(9));
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

function decodeMeta(value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (
    typeof value !== 'object' ||
    Array.isArray(value) ||
    !Object.values(value).every((v) => typeof v === 'string')
  ) {
    throw invalid('Invalid Login request: Meta: must be an object of strings');
  }
  return value as Record<string, string>;
}

function methodView(entry: StoredEntry<AuthMethodRecord>): AuthMethodView {
  const m = entry.value;
  return {
    Name: m.Name,
    Type: m.Type,
    ...(m.DisplayName === '' ? {} : { DisplayName: m.DisplayName }),
    Description: m.Description,
    ...(m.TokenLocality === '' ? {} : { TokenLocality: m.TokenLocality }),
    ...(m.MaxTokenTTL === undefined ? {} : { MaxTokenTTL: m.MaxTokenTTL }),
    Config: m.Config,
    CreateIndex: entry.createIndex,
    ModifyIndex: entry.modifyIndex,
  };
}

function ruleView(entry: StoredEntry<BindingRuleRecord>): BindingRuleView {
  return { ...entry.value, CreateIndex: entry.createIndex, ModifyIndex: entry.modifyIndex };
}
