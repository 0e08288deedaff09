// Rules for the names that appear inside config entries: peer names, subset names, wildcards.
import { z } from 'zod';
import { MAX_NAME_LENGTH } from './limits.js';

export const WILDCARD = '*';

// A DNS label (RFC 1123): what Consul requires of peer names, since they end up in SNI and DNS names.
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Why `name` cannot be a peer name, or undefined when it can. */
export function peerNameProblem(name: string): string | undefined {
  if (DNS_LABEL.test(name)) return undefined;
  return (
    `${JSON.stringify(name)} is not a valid peer name: use 1 to 63 lowercase letters, digits and hyphens, ` +
    'starting and ending with a letter or digit'
  );
}

export function isValidPeerName(name: string): boolean {
  return peerNameProblem(name) === undefined;
}

/** Why `name` cannot be a subset name, or undefined when it can. */
export function subsetNameProblem(name: string): string | undefined {
  if (DNS_LABEL.test(name)) return undefined;
  return (
    `${JSON.stringify(name)} is not a valid subset name: use 1 to 63 lowercase letters, digits and ` +
    'hyphens, starting and ending with a letter or digit'
  );
}

/** A `*` is only allowed as the whole name. */
export function wildcardProblem(name: string): string | undefined {
  if (name === WILDCARD || !name.includes(WILDCARD)) return undefined;
  return `${JSON.stringify(name)}: a wildcard must be the whole name ("*"), not part of it`;
}

/** Go's zero value: an empty string means the field is not set. */
export function isSet(value: string | undefined): value is string {
  return value !== undefined && value !== '';
}

/** A non-empty name, at most MAX_NAME_LENGTH characters. */
export const nonEmptyString = z.string().min(1).max(MAX_NAME_LENGTH);

/** A peer name; the empty string is accepted and means "no peer". */
export const peerNameSchema = z.string().superRefine((name, ctx) => {
  const problem = name === '' ? undefined : peerNameProblem(name);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** A service (or destination/source) name: non-empty, `*` only as the whole name. */
export const serviceNameSchema = nonEmptyString.superRefine((name, ctx) => {
  const problem = wildcardProblem(name);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});
