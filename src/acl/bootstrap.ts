// ACL bootstrap and token clone, as Consul has them.
//
// Bootstrap: the first PUT /v1/acl/bootstrap creates a management token and returns it (secret
// included); after that — or when an initial management token is configured, which counts as the
// bootstrap, as in Consul — it is refused. The bootstrap is recorded in the store, so it survives restarts.
//
// Clone: a new token (new AccessorID and SecretID) with the source token's policies; the description is
// the one given, or the source's.
import { invalid, permissionDenied } from '../shared/errors.js';
import type { Store } from '../store/store.js';
import type { AclService, TokenView } from './acl-service.js';
import { ACL_BOOTSTRAP_TABLE } from './acl-tables.js';
import { GLOBAL_MANAGEMENT_ID } from './builtin-policies.js';

export { ACL_BOOTSTRAP_TABLE } from './acl-tables.js';

const KEY = 'bootstrap';

/** Records that the ACL system is bootstrapped (no-op when it already is). */
export async function markBootstrapped(store: Store): Promise<void> {
  await store.write((tx) => {
    if (tx.get(ACL_BOOTSTRAP_TABLE, KEY) === undefined) tx.put(ACL_BOOTSTRAP_TABLE, KEY, { at: Date.now() });
  });
}

export async function bootstrap(store: Store, acl: AclService): Promise<TokenView> {
  const { result: resetIndex } = await store.write((tx) => {
    const done = tx.get(ACL_BOOTSTRAP_TABLE, KEY);
    if (done !== undefined) return done.modifyIndex;
    tx.put(ACL_BOOTSTRAP_TABLE, KEY, { at: Date.now() });
    return undefined;
  });
  if (resetIndex !== undefined) {
    throw permissionDenied(`ACL bootstrap no longer allowed (reset index: ${resetIndex})`);
  }
  return acl.createToken({
    Description: 'Bootstrap Token (Global Management)',
    Policies: [{ ID: GLOBAL_MANAGEMENT_ID }],
  });
}

/** The body of PUT /v1/acl/token/:accessor/clone: an optional Description. */
export function decodeCloneRequest(raw: unknown): { Description?: string } {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw invalid('Request decode failed: the body must be a JSON object');
  const entry = Object.entries(raw).find(([k]) => k.toLowerCase() === 'description');
  if (entry === undefined || entry[1] === null || entry[1] === '') return {};
  if (typeof entry[1] !== 'string') throw invalid('Request decode failed: Description: must be a string');
  return { Description: entry[1] };
}

export async function cloneToken(
  acl: AclService,
  source: TokenView,
  description?: string,
): Promise<TokenView> {
  return acl.createToken({
    Description: description ?? source.Description,
    Policies: source.Policies.map((p) => ({ ID: p.ID })),
  });
}
