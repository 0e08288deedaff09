// How the etcd store calls etcd: one call bounded by the request timeout, tried again while it never
// reached etcd, and every failure turned into an `unavailable` error naming etcd (the outcome of a
// timed-out commit is unknown, and the error says so; size limits come with the etcd flag to raise).
import type { CallOptions } from '@grpc/grpc-js';
import { MeshpeerError } from '../shared/errors.js';

/** Errors of calls that never reached etcd (no connection yet, or every member's circuit open). */
const NOT_SENT = /No connection established|circuit breaker is open/i;

/** The writes' verb for a commit: its failure leaves the outcome unknown. */
export const COMMIT = 'commit the write';

export interface EtcdCallContext {
  /** How long the call may take, retries included. */
  readonly timeoutMs: number;
  /** Named in errors (the endpoints). */
  readonly description: string;
  /** The store is closed: stop retrying. */
  readonly closed: () => boolean;
}

/**
 * One etcd call, bounded by ctx.timeoutMs; failures become `unavailable` errors naming etcd. A call
 * that never left (no connection to any member yet, or the client's circuit breakers hold every member
 * back after failures) is tried again until the deadline: that cannot apply a write twice.
 */
export async function callEtcd<T>(
  ctx: EtcdCallContext,
  what: string,
  fn: (opts: CallOptions) => Promise<T>,
): Promise<T> {
  const deadline = Date.now() + ctx.timeoutMs;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ctx.timeoutMs} ms`)), ctx.timeoutMs);
  });
  const attempt = async (): Promise<T> => {
    for (let backoff = 50; ; backoff = Math.min(backoff * 2, 500)) {
      try {
        return await fn({ deadline });
      } catch (err) {
        const notSent = NOT_SENT.test((err as Error).message ?? '');
        if (!notSent || Date.now() + backoff >= deadline || ctx.closed()) throw err;
        await new Promise((r) => setTimeout(r, backoff));
      }
    }
  };
  try {
    return await Promise.race([attempt(), timeout]);
  } catch (err) {
    const raw = (err as Error).message ?? String(err);
    const message = NOT_SENT.test(raw) ? `no member could be reached (${raw})` : raw;
    const unknown = what === COMMIT ? ' (the write may or may not have been applied)' : '';
    const hint = /too many operations/i.test(message)
      ? '; raise etcd --max-txn-ops or write less in one transaction'
      : /too large/i.test(message)
        ? '; raise etcd --max-request-bytes or write less in one transaction'
        : '';
    throw new MeshpeerError('unavailable', `${ctx.description} did not ${what}: ${message}${unknown}${hint}`);
  } finally {
    clearTimeout(timer);
  }
}

/** A batch that kept losing to other replicas' writes. */
export function conflictError(description: string, attempts: number): MeshpeerError {
  return new MeshpeerError(
    'unavailable',
    `${description}: the write conflicted with other replicas' writes ${attempts} times in a row`,
  );
}
