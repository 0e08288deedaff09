// The tokens logins make (src/acl/auth-methods.ts): writing one (expired ones of the same auth method go
// at the same time), deleting every token of an auth method, and logout, which deletes the request's own
// token if a login made it.
import { randomUUID } from 'node:crypto';
import { permissionDenied } from '../shared/errors.js';
import type { Store, WriteTxn } from '../store/store.js';
import {
  ANONYMOUS_SECRET,
  expired,
  identityFields,
  TOKEN_SECRETS,
  TOKENS,
  type TokenRecord,
} from './acl-tables.js';
import type { LoginToken } from './auth-methods.js';

export function putLoginToken(tx: WriteTxn, token: LoginToken): { accessor: string } {
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
    ...identityFields(token.serviceIdentities, token.nodeIdentities),
    AuthMethod: token.authMethod,
    ...(token.expirationTime === undefined ? {} : { ExpirationTime: token.expirationTime }),
    CreateTime: new Date().toISOString(),
  });
  return { accessor };
}

export function deleteLoginTokens(tx: WriteTxn, authMethod: string): void {
  for (const e of tx.list<TokenRecord>(TOKENS)) {
    if (e.value.AuthMethod !== authMethod) continue;
    tx.delete(TOKEN_SECRETS, e.value.SecretID);
    tx.delete(TOKENS, e.key);
  }
}

/** Logs out (POST /v1/acl/logout): deletes the request's own token, which a login must have made. */
export async function logout(
  store: Store,
  secret: string | undefined,
  initialManagementToken: string | undefined,
): Promise<void> {
  if (secret === undefined || secret === '' || secret === ANONYMOUS_SECRET) {
    throw permissionDenied('ACL not found: logout needs the token a login returned');
  }
  if (secret === initialManagementToken) {
    throw permissionDenied('Permission denied: only a token created by login can log out');
  }
  const { result } = await store.write((tx) => {
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
