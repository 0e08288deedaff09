// Query parameters shared by the /v1 routes, parsed once with messages that say what is wrong.
import { parseGoDuration } from '../config-entries/duration.js';
import { invalid } from '../shared/errors.js';

export type Query = Record<string, string | string[] | undefined>;

const MAX_WAIT_MS = 10 * 60_000;
const DEFAULT_WAIT_MS = 5 * 60_000;

export function single(q: Query, name: string): string | undefined {
  const v = q[name];
  if (Array.isArray(v)) {
    if (v.length > 1) throw invalid(`query parameter ${name} given ${v.length} times; give it once`);
    return v[0];
  }
  return v;
}

export function flag(q: Query, name: string): boolean {
  const v = single(q, name);
  if (v === undefined) return false;
  if (v === '' || v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw invalid(`query parameter ${name} must be true or false, got ${JSON.stringify(v)}`);
}

export function nonNegativeInt(q: Query, name: string): number | undefined {
  const v = single(q, name);
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v))
    throw invalid(`query parameter ${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw invalid(`query parameter ${name} is too large`);
  return n;
}

export interface BlockingParams {
  index: number | undefined;
  waitMs: number;
}

export function blockingParams(q: Query): BlockingParams {
  const index = nonNegativeInt(q, 'index');
  const wait = single(q, 'wait');
  let waitMs = DEFAULT_WAIT_MS;
  if (wait !== undefined && wait !== '') {
    const ms = /^\d+$/.test(wait) ? Number(wait) * 1000 : parseGoDuration(wait);
    if (ms === undefined || ms < 0) {
      throw invalid(
        `query parameter wait must be a duration like "10s" or "5m", got ${JSON.stringify(wait)}`,
      );
    }
    waitMs = Math.min(ms, MAX_WAIT_MS);
  }
  return { index, waitMs };
}

/** The peer a read is about: '' for local data. */
export function peerParam(q: Query): string {
  return single(q, 'peer') ?? '';
}

/** A request URL fit for logs: the value of a `token` query parameter (an ACL secret) replaced. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  return url.slice(0, q) + url.slice(q).replace(/([?&]token=)[^&]*/gi, '$1redacted');
}
