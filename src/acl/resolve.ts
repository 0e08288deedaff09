// Resolves a request's secret into an identity: its token (the anonymous one when none was given, the
// configured initial management token, or a stored unexpired token) and an authorizer built from the
// token's policies that apply in this datacenter, its service and node identities, and the default policy.
import { timingSafeEqual } from 'node:crypto';
import { permissionDenied } from '../shared/errors.js';
import type { Store } from '../store/store.js';
import {
  ANONYMOUS_ACCESSOR,
  ANONYMOUS_SECRET,
  expired,
  isBootstrapped,
  TOKEN_SECRETS,
  TOKENS,
  type TokenRecord,
} from './acl-tables.js';
import { type Authorizer, managementAuthorizer, PolicyAuthorizer } from './authorizer.js';
import { GLOBAL_MANAGEMENT_ID } from './builtin-policies.js';
import { identityRules } from './identities.js';
import type { PolicyStore } from './policy-store.js';
import type { TokenStore, TokenView } from './token-store.js';

export interface Identity {
  accessorId: string;
  authorizer: Authorizer;
  /** The token (the anonymous token when the request gave none). */
  token?: TokenView;
}

export interface ResolveOptions {
  initialManagementToken?: string;
  defaultPolicy: 'allow' | 'deny';
  /** This server's datacenter: policies and identities limited to other datacenters grant nothing here. */
  datacenter?: string;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class SecretResolver {
  constructor(
    private readonly store: Store,
    private readonly tokens: TokenStore,
    private readonly policies: PolicyStore,
    private readonly options: ResolveOptions,
  ) {}

  /** The identity of a request's secret (undefined: none given, the anonymous token). */
  resolve(secret: string | undefined): Identity {
    if (secret === undefined || secret === '' || secret === ANONYMOUS_SECRET) {
      const token = this.tokens.anonymousView();
      return {
        accessorId: ANONYMOUS_ACCESSOR,
        authorizer: this.authorizer(this.tokens.anonymousRecord()),
        token,
      };
    }
    const initial = this.options.initialManagementToken;
    if (initial !== undefined && sameSecret(secret, initial)) {
      const token = this.tokens.managementView();
      if (token !== undefined) {
        return { accessorId: token.AccessorID, authorizer: managementAuthorizer, token };
      }
    }
    const accessor = this.store.get<string>(TOKEN_SECRETS, secret)?.value;
    const entry = accessor === undefined ? undefined : this.store.get<TokenRecord>(TOKENS, accessor);
    if (entry === undefined || expired(entry.value)) {
      throw permissionDenied(
        isBootstrapped(this.store)
          ? 'ACL not found'
          : 'ACL system must be bootstrapped before making any requests that require authorization: ACL not found',
      );
    }
    return {
      accessorId: entry.value.AccessorID,
      authorizer: this.authorizer(entry.value),
      token: this.tokens.view(entry),
    };
  }

  private authorizer(token: TokenRecord): Authorizer {
    if (token.PolicyIDs.includes(GLOBAL_MANAGEMENT_ID)) return managementAuthorizer;
    const dc = this.options.datacenter;
    const rules = token.PolicyIDs.flatMap((id) => {
      const policy = this.policies.record(id);
      if (policy === undefined) return [];
      const dcs = policy.Datacenters ?? [];
      return dc === undefined || dcs.length === 0 || dcs.includes(dc) ? [policy.parsed] : [];
    });
    rules.push(...identityRules(token.ServiceIdentities ?? [], token.NodeIdentities ?? [], dc));
    return new PolicyAuthorizer(rules, this.options.defaultPolicy === 'allow');
  }
}
