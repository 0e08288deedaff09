// Who may establish a peering and open its stream, as pure decisions over the stored record and secrets:
// the acceptor's gRPC service asks these and maps each refusal to a status code. Each refusal says what
// the dialer's operator can do about it.

import { timingSafeEqual } from 'node:crypto';
import type { PeeringRecord, PeeringSecrets } from './records.js';

export type RefusalKind =
  /** No acceptor peering with that ID (deleted, or the token is from another cluster). */
  | 'unknown-peering'
  /** The establishment secret was exchanged before: tokens are single-use. */
  | 'secret-used'
  /** A newer token was generated for the same peer. */
  | 'secret-replaced'
  /** The secret matches nothing: the token was altered or is not this peering's. */
  | 'secret-mismatch'
  | 'secret-expired'
  /** The stream secret is wrong, or a later exchange replaced it. */
  | 'stream-secret-mismatch';

export interface Refusal {
  kind: RefusalKind;
  message: string;
}

/** Why the acceptor refuses to trade `secret` for a stream secret, or undefined when it accepts. */
export function establishmentRefusal(
  record: PeeringRecord | undefined,
  secrets: PeeringSecrets | undefined,
  peerId: string,
  secret: string,
  now = Date.now(),
): Refusal | undefined {
  if (secrets === undefined || record === undefined || record.Role !== 'acceptor')
    return {
      kind: 'unknown-peering',
      message: `no peering with ID ${peerId} here: it was deleted, or the token is from another cluster`,
    };
  if (secrets.UsedEstablishment.includes(secret))
    return {
      kind: 'secret-used',
      message:
        'the establishment secret in this token was already used; generate a new token on the accepting cluster',
    };
  if (secrets.ReplacedEstablishment.includes(secret))
    return {
      kind: 'secret-replaced',
      message: 'this token was replaced by a newer one generated for the same peer; use the newest token',
    };
  const est = secrets.Establishment;
  if (est === undefined || !sameSecret(est.Secret, secret))
    return {
      kind: 'secret-mismatch',
      message: 'the establishment secret does not match (was the token altered?); generate a new token',
    };
  if (Date.parse(est.ExpiresAt) < now)
    return {
      kind: 'secret-expired',
      message: `the token expired at ${est.ExpiresAt}; generate a new token on the accepting cluster`,
    };
  return undefined;
}

/** Why the acceptor refuses a stream opened with `streamSecret`, or undefined when it accepts it. */
export function streamRefusal(
  record: PeeringRecord | undefined,
  secrets: PeeringSecrets | undefined,
  peerId: string,
  streamSecret: string,
): Refusal | undefined {
  if (
    record === undefined ||
    secrets === undefined ||
    record.Role !== 'acceptor' ||
    record.State === 'DELETING' ||
    record.State === 'TERMINATED'
  )
    return { kind: 'unknown-peering', message: `no peering with ID ${peerId} here (it was deleted)` };
  if (secrets.Stream === undefined || !sameSecret(secrets.Stream, streamSecret))
    return {
      kind: 'stream-secret-mismatch',
      message: 'the stream secret is wrong or was replaced; establish again with a new token',
    };
  return undefined;
}

/** Compares secrets in constant time, so timing reveals nothing of the stored one. */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
