// Where ACL state lives in the store (its tables and the records kept in them), the anonymous token's fixed
// IDs, and the small checks every part of the ACL service shares about those records.
import { invalid } from '../shared/errors.js';
import type { Store } from '../store/store.js';
import { AUTH_METHODS, BINDING_RULES } from './auth-methods.js';
import type { NodeIdentity, ServiceIdentity } from './identities.js';
import type { ParsedRules } from './rules.js';

export const POLICIES = 'acl/policies';
export const TOKENS = 'acl/tokens';
/** SecretID → AccessorID. */
export const TOKEN_SECRETS = 'acl/token-secrets';
/** Whether the ACL system is bootstrapped (src/acl/bootstrap.ts). */
export const ACL_BOOTSTRAP_TABLE = 'acl/bootstrap';
export const ACL_TABLES = [POLICIES, TOKENS, TOKEN_SECRETS, AUTH_METHODS, BINDING_RULES] as const;

export const ANONYMOUS_ACCESSOR = '00000000-0000-0000-0000-000000000002';
export const ANONYMOUS_SECRET = 'anonymous';

export interface PolicyRecord {
  ID: string;
  Name: string;
  Description: string;
  Rules: string;
  Datacenters?: string[];
  parsed: ParsedRules;
}

export interface TokenRecord {
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

/** Whether the ACL system is bootstrapped (by PUT /v1/acl/bootstrap or a configured management token). */
export function isBootstrapped(store: Store): boolean {
  return store.list(ACL_BOOTSTRAP_TABLE).length > 0;
}

/** A token past its ExpirationTime: it no longer exists for requests and reads. */
export function expired(t: TokenRecord): boolean {
  return t.ExpirationTime !== undefined && Date.parse(t.ExpirationTime) <= Date.now();
}

/** A token record's identity fields: present only when non-empty. */
export function identityFields(
  serviceIdentities: ServiceIdentity[],
  nodeIdentities: NodeIdentity[],
): Pick<TokenRecord, 'ServiceIdentities' | 'NodeIdentities'> {
  return {
    ...(serviceIdentities.length > 0 ? { ServiceIdentities: serviceIdentities } : {}),
    ...(nodeIdentities.length > 0 ? { NodeIdentities: nodeIdentities } : {}),
  };
}

export function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalid(`${field}: must be a string`);
  return value;
}

export function stringList(value: unknown, field: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw invalid(`${field}: must be a list of strings`);
  }
  return value;
}
