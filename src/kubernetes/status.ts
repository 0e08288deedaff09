// What a reconcile tells the user: the `Synced` condition (status, CamelCase reason, a sentence), the
// failure reasons, and how any thrown error maps onto one of them.
import { KubeError } from './kube-api.js';
import type { Condition } from './resources.js';
import { ServerError } from './server-client.js';

export const SYNCED = 'Synced';

export const Reason = {
  /** The meshpeer server refused the request or could not be reached. */
  ConsulAgentError: 'ConsulAgentError',
  /** The Kubernetes API refused the request or could not be reached. */
  KubernetesError: 'KubernetesError',
  /** A bug or an answer the controller did not expect. */
  InternalError: 'InternalError',
  /** The Secret named in spec.peer.secret is missing, lacks the key, or is not usable. */
  InvalidSecret: 'InvalidSecret',
  /** An annotation the controller reads holds a value it cannot use. */
  InvalidAnnotation: 'InvalidAnnotation',
  /** The spec does not make a valid config entry. */
  ValidationError: 'ValidationError',
  /** The config entry exists on the server and was not written by a controller. */
  EntryExists: 'EntryExists',
  /** The peer deleted the peering; a new token is needed. */
  PeeringTerminated: 'PeeringTerminated',
  /** An older resource in another namespace already manages the same peering or config entry. */
  DuplicateResource: 'DuplicateResource',
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

/**
 * A failure with the reason the condition shows. `retry: false` means retrying cannot help until the
 * resource (or something it names) changes; the controller then waits for that change, or the resync.
 */
export class ReconcileError extends Error {
  readonly retry: boolean;
  /** The server could not be reached: what it holds (a peering's state) is unknown, not failed. */
  readonly unreachable: boolean;
  constructor(
    readonly reason: Reason,
    message: string,
    options: { retry?: boolean; unreachable?: boolean } = {},
  ) {
    super(message);
    this.name = 'ReconcileError';
    this.retry = options.retry ?? true;
    this.unreachable = options.unreachable ?? false;
  }
}

/** Any error as a ReconcileError: server failures, API failures, and everything else is internal. */
export function classify(err: unknown): ReconcileError {
  if (err instanceof ReconcileError) return err;
  if (err instanceof ServerError) {
    return new ReconcileError(Reason.ConsulAgentError, err.message, {
      unreachable: err.status === undefined,
    });
  }
  if (err instanceof KubeError) return new ReconcileError(Reason.KubernetesError, err.message);
  const message = err instanceof Error ? err.message : String(err);
  return new ReconcileError(Reason.InternalError, `internal error: ${message}`);
}

export interface SyncedState {
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
}

/** The conditions with Synced set; lastTransitionTime moves only when the condition's status does. */
export function withSynced(
  previous: readonly Condition[] | undefined,
  next: SyncedState,
  now: Date,
): Condition[] {
  return withCondition(previous, SYNCED, next, now);
}

/**
 * The conditions with `type` set to `next` (lastTransitionTime moves only when its status does), or
 * without it when `next` is undefined.
 */
export function withCondition(
  previous: readonly Condition[] | undefined,
  type: string,
  next: SyncedState | undefined,
  now: Date,
): Condition[] {
  const others = (previous ?? []).filter((c) => c.type !== type);
  if (!next) return others;
  const old = (previous ?? []).find((c) => c.type === type);
  const lastTransitionTime =
    old && old.status === next.status && old.lastTransitionTime ? old.lastTransitionTime : rfc3339(now);
  const condition: Condition = { type, status: next.status, lastTransitionTime };
  if (next.reason) condition.reason = next.reason;
  if (next.message) condition.message = next.message;
  return [...others, condition];
}

export function syncedOf(conditions: readonly Condition[] | undefined): Condition | undefined {
  return (conditions ?? []).find((c) => c.type === SYNCED);
}

/** Kubernetes timestamps: RFC 3339 in UTC, whole seconds. */
export function rfc3339(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

/**
 * Whether two statuses say the same thing, ignoring timestamps: a reconcile that changes nothing
 * writes nothing (a status write is itself an update that would trigger another reconcile).
 */
export function sameStatus(a: unknown, b: unknown): boolean {
  return stableJson(withoutTimes(a)) === stableJson(withoutTimes(b));
}

function withoutTimes(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutTimes);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([key, v]) => key !== 'lastSyncedTime' && key !== 'lastTransitionTime' && v !== undefined)
        .map(([key, v]) => [key, withoutTimes(v)]),
    );
  }
  return value;
}

/** JSON with object keys sorted, so equal values compare equal as text. */
export function stableJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}
