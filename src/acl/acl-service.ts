// The ACL system as the rest of meshpeer sees it: one facade over ACL policies and tokens, kept in the
// store (so they survive restarts), and the resolution of a request's secret into an identity with an
// authorizer. The parts live beside it: where ACL state is stored (acl-tables.ts), policies
// (policy-store.ts; the built-in ones, src/acl/builtin-policies.ts, always exist and global-management
// makes any token linked to it management), tokens (token-store.ts; the initial management token lives
// only in the server's configuration, the anonymous token is Consul's and its policies may be set like
// any token's, then it is stored), secret → identity (resolve.ts; a token's service and node identities
// grant what Consul's synthetic policies for them grant, src/acl/identities.ts), and the tokens logins
// make (login-tokens.ts). Auth methods, binding rules and login: src/acl/auth-methods.ts (tokens made by
// a login carry their AuthMethod).
import type { Store, WriteTxn } from '../store/store.js';
import { ACL_TABLES, isBootstrapped } from './acl-tables.js';
import { AuthMethods, type LoginToken, type LoginTokenStore } from './auth-methods.js';
import { httpsTokenReviewer, type TokenReviewer } from './kubernetes-auth.js';
import { deleteLoginTokens, logout, putLoginToken } from './login-tokens.js';
import { type PolicyInput, PolicyStore, type PolicyView } from './policy-store.js';
import { type Identity, SecretResolver } from './resolve.js';
import { type TokenFilter, type TokenInput, TokenStore, type TokenView } from './token-store.js';

export {
  ACL_BOOTSTRAP_TABLE,
  ACL_TABLES,
  ANONYMOUS_ACCESSOR,
  ANONYMOUS_SECRET,
  POLICIES,
  TOKEN_SECRETS,
  TOKENS,
} from './acl-tables.js';
export { GLOBAL_MANAGEMENT_ID, GLOBAL_MANAGEMENT_NAME } from './builtin-policies.js';
export type { PolicyInput, PolicyView } from './policy-store.js';
export type { Identity } from './resolve.js';
export type { TokenFilter, TokenInput, TokenView } from './token-store.js';

export interface AclOptions {
  initialManagementToken?: string;
  defaultPolicy: 'allow' | 'deny';
  /** This server's datacenter: policies and identities limited to other datacenters grant nothing here. */
  datacenter?: string;
  /** How kubernetes auth methods check a login's JWT (default: a TokenReview over HTTPS). */
  tokenReviewer?: TokenReviewer;
}

export class AclService implements LoginTokenStore {
  readonly tables = ACL_TABLES;
  /** Auth methods, binding rules and login. */
  readonly authMethods: AuthMethods;
  private readonly policies: PolicyStore;
  private readonly tokens: TokenStore;
  private readonly resolver: SecretResolver;

  constructor(
    private readonly store: Store,
    private readonly options: AclOptions,
  ) {
    this.policies = new PolicyStore(store);
    this.tokens = new TokenStore(store, this.policies, options.initialManagementToken);
    this.resolver = new SecretResolver(store, this.tokens, this.policies, options);
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
    return isBootstrapped(this.store);
  }

  /** The identity of a request's secret (undefined: none given, the anonymous token). */
  resolve(secret: string | undefined): Identity {
    return this.resolver.resolve(secret);
  }

  // ---- policies ----

  listPolicies(): PolicyView[] {
    return this.policies.list();
  }

  readPolicy(id: string): PolicyView {
    return this.policies.read(id);
  }

  /**
   * Creates a policy (id undefined) or replaces one. A built-in policy may be renamed or described
   * anew, as in Consul, but its rules and datacenters cannot change.
   */
  writePolicy(input: PolicyInput, id?: string): Promise<PolicyView> {
    return this.policies.write(input, id);
  }

  deletePolicy(id: string): Promise<void> {
    return this.policies.delete(id);
  }

  // ---- tokens ----

  listTokens(filter: TokenFilter = {}): TokenView[] {
    return this.tokens.list(filter);
  }

  readToken(accessor: string): TokenView {
    return this.tokens.read(accessor);
  }

  createToken(input: TokenInput): Promise<TokenView> {
    return this.tokens.create(input);
  }

  /**
   * Replaces a token's description, policies and identities (PUT /v1/acl/token/:accessor), as Consul
   * does; its secret and locality cannot change. The anonymous token may be updated (its policies apply
   * to requests without a token); the initial management token is the configuration's.
   */
  updateToken(accessor: string, input: TokenInput): Promise<TokenView> {
    return this.tokens.update(accessor, input);
  }

  deleteToken(accessor: string): Promise<void> {
    return this.tokens.delete(accessor);
  }

  // ---- login tokens (src/acl/auth-methods.ts) ----

  putLoginToken(tx: WriteTxn, token: LoginToken): { accessor: string } {
    return putLoginToken(tx, token);
  }

  deleteLoginTokens(tx: WriteTxn, authMethod: string): void {
    deleteLoginTokens(tx, authMethod);
  }

  /** Logs in (POST /v1/acl/login): the new token. */
  async login(input: Parameters<AuthMethods['login']>[0]): Promise<TokenView> {
    return this.readToken(await this.authMethods.login(input));
  }

  /** Logs out (POST /v1/acl/logout): deletes the request's own token, which a login must have made. */
  logout(secret: string | undefined): Promise<void> {
    return logout(this.store, secret, this.options.initialManagementToken);
  }
}
