// ACL policies and tokens, kept in the store (so they survive restarts), and the resolution of a
// request's secret into an identity with an authorizer. The initial management token lives only in the
// server's configuration; the built-in global-management policy makes any token linked to it management.
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { invalid, notFound, permissionDenied } from '../shared/errors.js';
import type { Store, StoredEntry } from '../store/store.js';
import { type Authorizer, managementAuthorizer, PolicyAuthorizer } from './authorizer.js';
import { type ParsedRules, parseRules } from './rules.js';

export const POLICIES = 'acl/policies';
export const TOKENS = 'acl/tokens';
/** SecretID → AccessorID. */
export const TOKEN_SECRETS = 'acl/token-secrets';
export const ACL_TABLES = [POLICIES, TOKENS, TOKEN_SECRETS] as const;

export const GLOBAL_MANAGEMENT_ID = '00000000-0000-0000-0000-000000000001';
export const GLOBAL_MANAGEMENT_NAME = 'global-management';
export const ANONYMOUS_ACCESSOR = '00000000-0000-0000-0000-000000000002';

export interface AclOptions {
  initialManagementToken?: string;
  defaultPolicy: 'allow' | 'deny';
}

interface PolicyRecord {
  ID: string;
  Name: string;
  Description: string;
  Rules: string;
  parsed: ParsedRules;
}

interface TokenRecord {
  AccessorID: string;
  SecretID: string;
  Description: string;
  PolicyIDs: string[];
  CreateTime: string;
}

export interface Identity {
  accessorId: string;
  authorizer: Authorizer;
  /** The token, for /v1/acl/token/self; undefined for the anonymous identity. */
  token?: TokenView;
}

export interface PolicyView {
  ID: string;
  Name: string;
  Description: string;
  Rules: string;
  CreateIndex: number;
  ModifyIndex: number;
}

export interface TokenView {
  AccessorID: string;
  SecretID: string;
  Description: string;
  Policies: Array<{ ID: string; Name: string }>;
  Local: boolean;
  CreateTime: string;
  CreateIndex: number;
  ModifyIndex: number;
}

export interface PolicyInput {
  Name?: unknown;
  Description?: unknown;
  Rules?: unknown;
}

export interface TokenInput {
  AccessorID?: unknown;
  SecretID?: unknown;
  Description?: unknown;
  Policies?: unknown;
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

export class AclService {
  readonly tables = ACL_TABLES;
  private readonly managementAccessor: string | undefined;

  constructor(
    private readonly store: Store,
    private readonly options: AclOptions,
  ) {
    this.managementAccessor =
      options.initialManagementToken === undefined
        ? undefined
        : uuidFromHash(`meshpeer-initial-management:${options.initialManagementToken}`);
  }

  /** What applies where no rule does (reported in /v1/agent/self; sidecars default intentions to it). */
  get defaultPolicy(): 'allow' | 'deny' {
    return this.options.defaultPolicy;
  }

  /** The identity of a request's secret (undefined: none given, the anonymous token). */
  resolve(secret: string | undefined): Identity {
    if (secret === undefined || secret === '' || secret === 'anonymous') {
      return { accessorId: ANONYMOUS_ACCESSOR, authorizer: this.authorizer([]) };
    }
    const initial = this.options.initialManagementToken;
    if (initial !== undefined && this.managementAccessor !== undefined && sameSecret(secret, initial)) {
      return {
        accessorId: this.managementAccessor,
        authorizer: managementAuthorizer,
        token: {
          AccessorID: this.managementAccessor,
          SecretID: initial,
          Description: 'Initial Management Token',
          Policies: [{ ID: GLOBAL_MANAGEMENT_ID, Name: GLOBAL_MANAGEMENT_NAME }],
          Local: false,
          CreateTime: new Date(0).toISOString(),
          CreateIndex: 0,
          ModifyIndex: 0,
        },
      };
    }
    const accessor = this.store.get<string>(TOKEN_SECRETS, secret)?.value;
    const entry = accessor === undefined ? undefined : this.store.get<TokenRecord>(TOKENS, accessor);
    if (entry === undefined) throw permissionDenied('ACL not found');
    const view = this.tokenView(entry);
    const management = entry.value.PolicyIDs.includes(GLOBAL_MANAGEMENT_ID);
    return {
      accessorId: entry.value.AccessorID,
      authorizer: management ? managementAuthorizer : this.authorizer(entry.value.PolicyIDs),
      token: view,
    };
  }

  private authorizer(policyIds: readonly string[]): Authorizer {
    const rules = policyIds
      .map((id) => this.store.get<PolicyRecord>(POLICIES, id)?.value.parsed)
      .filter((r): r is ParsedRules => r !== undefined);
    return new PolicyAuthorizer(rules, this.options.defaultPolicy === 'allow');
  }

  // ---- policies ----

  listPolicies(): PolicyView[] {
    return [this.builtinPolicy(), ...this.store.list<PolicyRecord>(POLICIES).map(policyView)];
  }

  readPolicy(id: string): PolicyView {
    if (id === GLOBAL_MANAGEMENT_ID) return this.builtinPolicy();
    const entry = this.store.get<PolicyRecord>(POLICIES, id);
    if (entry === undefined) throw notFound(`ACL policy not found: ${JSON.stringify(id)}`);
    return policyView(entry);
  }

  /** Creates a policy (id undefined) or replaces one. */
  async writePolicy(input: PolicyInput, id?: string): Promise<PolicyView> {
    const name = optionalString(input.Name, 'Name');
    if (name === undefined || !POLICY_NAME.test(name)) {
      throw invalid('Invalid Policy: Name: required, 1-128 letters, digits, "-" or "_"');
    }
    const rules = optionalString(input.Rules, 'Rules') ?? '';
    const description = optionalString(input.Description, 'Description') ?? '';
    const parsed = await parseRules(rules);
    if (id === GLOBAL_MANAGEMENT_ID || name === GLOBAL_MANAGEMENT_NAME) {
      throw invalid('Invalid Policy: the builtin global-management policy cannot be changed');
    }
    const { result } = await this.store.write((tx) => {
      if (id !== undefined && tx.get(POLICIES, id) === undefined) {
        throw notFound(`ACL policy not found: ${JSON.stringify(id)}`);
      }
      const policyId = id ?? randomUUID();
      const clash = tx.list<PolicyRecord>(POLICIES).find((e) => e.value.Name === name && e.key !== policyId);
      if (clash !== undefined) {
        throw invalid(`Invalid Policy: A Policy with Name ${JSON.stringify(name)} already exists`);
      }
      return policyView(
        tx.put<PolicyRecord>(POLICIES, policyId, {
          ID: policyId,
          Name: name,
          Description: description,
          Rules: rules,
          parsed,
        }),
      );
    });
    return result;
  }

  async deletePolicy(id: string): Promise<void> {
    if (id === GLOBAL_MANAGEMENT_ID) throw invalid('the builtin global-management policy cannot be deleted');
    const { result } = await this.store.write((tx) => tx.delete(POLICIES, id));
    if (!result) throw notFound(`ACL policy not found: ${JSON.stringify(id)}`);
  }

  private builtinPolicy(): PolicyView {
    return {
      ID: GLOBAL_MANAGEMENT_ID,
      Name: GLOBAL_MANAGEMENT_NAME,
      Description: 'Builtin Policy that grants unlimited access',
      Rules: '',
      CreateIndex: 0,
      ModifyIndex: 0,
    };
  }

  // ---- tokens ----

  listTokens(): TokenView[] {
    return this.store.list<TokenRecord>(TOKENS).map((e) => this.tokenView(e));
  }

  readToken(accessor: string): TokenView {
    const entry = this.store.get<TokenRecord>(TOKENS, accessor);
    if (entry === undefined) throw notFound(`ACL token not found: ${JSON.stringify(accessor)}`);
    return this.tokenView(entry);
  }

  async createToken(input: TokenInput): Promise<TokenView> {
    const accessor = optionalString(input.AccessorID, 'AccessorID') || randomUUID();
    const secret = optionalString(input.SecretID, 'SecretID') || randomUUID();
    if (!UUID.test(accessor)) throw invalid('Invalid Token: AccessorID: must be a UUID');
    if (!UUID.test(secret)) throw invalid('Invalid Token: SecretID: must be a UUID');
    const description = optionalString(input.Description, 'Description') ?? '';
    const links = input.Policies ?? [];
    if (!Array.isArray(links)) throw invalid('Invalid Token: Policies: must be a list of {ID} or {Name}');
    const { result } = await this.store.write((tx) => {
      const policies = tx.list<PolicyRecord>(POLICIES).map((e) => e.value);
      const ids = links.map((link: unknown, i) => {
        const l = (typeof link === 'object' && link !== null ? link : {}) as { ID?: unknown; Name?: unknown };
        if (l.ID === GLOBAL_MANAGEMENT_ID || l.Name === GLOBAL_MANAGEMENT_NAME) return GLOBAL_MANAGEMENT_ID;
        const found = policies.find((p) =>
          typeof l.ID === 'string' && l.ID !== '' ? p.ID === l.ID : p.Name === l.Name,
        );
        if (found === undefined) {
          const what =
            typeof l.ID === 'string' && l.ID !== '' ? `ID ${l.ID}` : `Name ${JSON.stringify(l.Name)}`;
          throw invalid(`Invalid Token: Policies[${i}]: no policy with ${what}`);
        }
        return found.ID;
      });
      if (tx.get(TOKENS, accessor) !== undefined) throw invalid('Invalid Token: AccessorID already in use');
      if (tx.get(TOKEN_SECRETS, secret) !== undefined || secret === this.options.initialManagementToken) {
        throw invalid('Invalid Token: SecretID already in use');
      }
      tx.put(TOKEN_SECRETS, secret, accessor);
      return tx.put<TokenRecord>(TOKENS, accessor, {
        AccessorID: accessor,
        SecretID: secret,
        Description: description,
        PolicyIDs: [...new Set(ids)],
        CreateTime: new Date().toISOString(),
      });
    });
    return this.tokenView(result);
  }

  async deleteToken(accessor: string): Promise<void> {
    if (accessor === this.managementAccessor) {
      throw invalid('the initial management token is configured on the command line and cannot be deleted');
    }
    const { result } = await this.store.write((tx) => {
      const entry = tx.get<TokenRecord>(TOKENS, accessor);
      if (entry === undefined) return false;
      tx.delete(TOKEN_SECRETS, entry.value.SecretID);
      return tx.delete(TOKENS, accessor);
    });
    if (!result) throw notFound(`ACL token not found: ${JSON.stringify(accessor)}`);
  }

  private tokenView(entry: StoredEntry<TokenRecord>): TokenView {
    const t = entry.value;
    return {
      AccessorID: t.AccessorID,
      SecretID: t.SecretID,
      Description: t.Description,
      Policies: t.PolicyIDs.flatMap((id) => {
        if (id === GLOBAL_MANAGEMENT_ID) return [{ ID: id, Name: GLOBAL_MANAGEMENT_NAME }];
        const p = this.store.get<PolicyRecord>(POLICIES, id)?.value;
        return p === undefined ? [] : [{ ID: id, Name: p.Name }];
      }),
      Local: false,
      CreateTime: t.CreateTime,
      CreateIndex: entry.createIndex,
      ModifyIndex: entry.modifyIndex,
    };
  }
}

function policyView(entry: StoredEntry<PolicyRecord>): PolicyView {
  const p = entry.value;
  return {
    ID: p.ID,
    Name: p.Name,
    Description: p.Description,
    Rules: p.Rules,
    CreateIndex: entry.createIndex,
    ModifyIndex: entry.modifyIndex,
  };
}
