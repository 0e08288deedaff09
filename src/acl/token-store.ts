// ACL tokens: create, read, list, replace and delete them in the store, with the two tokens that are not
// stored as others are: the initial management token (the server's configuration; its AccessorID is
// derived from its secret) and the anonymous token (Consul's default until its policies are set, then
// stored).
import { createHash, randomUUID } from 'node:crypto';
import { invalid, notFound } from '../shared/errors.js';
import type { Store, StoredEntry } from '../store/store.js';
import {
  ANONYMOUS_ACCESSOR,
  ANONYMOUS_SECRET,
  expired,
  identityFields,
  optionalString,
  TOKEN_SECRETS,
  TOKENS,
  type TokenRecord,
} from './acl-tables.js';
import { GLOBAL_MANAGEMENT_ID } from './builtin-policies.js';
import {
  decodeNodeIdentities,
  decodeServiceIdentities,
  type NodeIdentity,
  type ServiceIdentity,
} from './identities.js';
import type { PolicyStore } from './policy-store.js';

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

function uuidFromHash(text: string): string {
  const h = createHash('sha256').update(text).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export class TokenStore {
  /** The initial management token's AccessorID (undefined: none configured). */
  readonly managementAccessor: string | undefined;

  constructor(
    private readonly store: Store,
    private readonly policies: PolicyStore,
    private readonly initialManagementToken: string | undefined,
  ) {
    this.managementAccessor =
      initialManagementToken === undefined
        ? undefined
        : uuidFromHash(`meshpeer-initial-management:${initialManagementToken}`);
  }

  list(filter: TokenFilter = {}): TokenView[] {
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
      if (!expired(e.value)) records.push({ record: e.value, view: this.view(e) });
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

  read(accessor: string): TokenView {
    const management = this.managementView();
    if (management !== undefined && accessor === management.AccessorID) return management;
    const entry = this.store.get<TokenRecord>(TOKENS, accessor);
    if (entry !== undefined && !expired(entry.value)) return this.view(entry);
    if (accessor === ANONYMOUS_ACCESSOR) return this.anonymousView();
    throw notFound(`ACL token not found: ${JSON.stringify(accessor)}`);
  }

  async create(input: TokenInput): Promise<TokenView> {
    const accessor = optionalString(input.AccessorID, 'AccessorID') || randomUUID();
    const secret = optionalString(input.SecretID, 'SecretID') || randomUUID();
    if (!UUID.test(accessor)) throw invalid('Invalid Token: AccessorID: must be a UUID');
    if (!UUID.test(secret)) throw invalid('Invalid Token: SecretID: must be a UUID');
    if (input.Local === true)
      throw invalid('Invalid Token: local tokens are not supported (meshpeer has one datacenter)');
    const fields = decodeTokenFields(input);
    const { result } = await this.store.write((tx) => {
      const policyIds = this.policies.linkIds(tx, fields.links);
      if (tx.get(TOKENS, accessor) !== undefined || accessor === this.managementAccessor) {
        throw invalid('Invalid Token: AccessorID already in use');
      }
      if (tx.get(TOKEN_SECRETS, secret) !== undefined || secret === this.initialManagementToken) {
        throw invalid('Invalid Token: SecretID already in use');
      }
      tx.put(TOKEN_SECRETS, secret, accessor);
      return tx.put<TokenRecord>(TOKENS, accessor, {
        AccessorID: accessor,
        SecretID: secret,
        Description: fields.description,
        PolicyIDs: policyIds,
        ...identityFields(fields.serviceIdentities, fields.nodeIdentities),
        CreateTime: new Date().toISOString(),
      });
    });
    return this.view(result);
  }

  /**
   * Replaces a token's description, policies and identities (PUT /v1/acl/token/:accessor), as Consul
   * does; its secret and locality cannot change. The anonymous token may be updated (its policies apply
   * to requests without a token); the initial management token is the configuration's.
   */
  async update(accessor: string, input: TokenInput): Promise<TokenView> {
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
      const policyIds = this.policies.linkIds(tx, fields.links);
      if (accessor !== ANONYMOUS_ACCESSOR) tx.put(TOKEN_SECRETS, existing.SecretID, accessor);
      return tx.put<TokenRecord>(TOKENS, accessor, {
        AccessorID: accessor,
        SecretID: existing.SecretID,
        Description: fields.description,
        PolicyIDs: policyIds,
        ...identityFields(fields.serviceIdentities, fields.nodeIdentities),
        ...(existing.AuthMethod === undefined ? {} : { AuthMethod: existing.AuthMethod }),
        ...(existing.ExpirationTime === undefined ? {} : { ExpirationTime: existing.ExpirationTime }),
        CreateTime: existing.CreateTime,
      });
    });
    return this.view(result);
  }

  async delete(accessor: string): Promise<void> {
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

  managementView(): TokenView | undefined {
    const record = this.managementRecord();
    return record === undefined ? undefined : this.viewOf(record, 0, 0);
  }

  /** The anonymous token: stored once its policies were set, Consul's default until then. */
  anonymousRecord(): TokenRecord {
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

  anonymousView(): TokenView {
    const entry = this.store.get<TokenRecord>(TOKENS, ANONYMOUS_ACCESSOR);
    return entry !== undefined ? this.view(entry) : this.viewOf(this.anonymousRecord(), 0, 0);
  }

  /** A stored token as the API shows it. */
  view(entry: StoredEntry<TokenRecord>): TokenView {
    return this.viewOf(entry.value, entry.createIndex, entry.modifyIndex);
  }

  private managementRecord(): TokenRecord | undefined {
    const secret = this.initialManagementToken;
    if (secret === undefined || this.managementAccessor === undefined) return undefined;
    return {
      AccessorID: this.managementAccessor,
      SecretID: secret,
      Description: 'Initial Management Token',
      PolicyIDs: [GLOBAL_MANAGEMENT_ID],
      CreateTime: new Date(0).toISOString(),
    };
  }

  private viewOf(t: TokenRecord, createIndex: number, modifyIndex: number): TokenView {
    const view: TokenView = {
      AccessorID: t.AccessorID,
      SecretID: t.SecretID,
      Description: t.Description,
      Policies: t.PolicyIDs.flatMap((id) => {
        const p = this.policies.record(id);
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
