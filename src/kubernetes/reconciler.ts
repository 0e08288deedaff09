// What every reconciler shares: its dependencies, its result, and the small steps each one takes in
// the same order (ensure the finalizer, drop it once cleaned up, write the status once).
import type { Logger } from '../shared/logger.js';
import type { EventRecorder } from './events.js';
import type { KubeApi } from './kube-api.js';
import { type CustomResource, FINALIZER, hasFinalizer, type ResourceKind } from './resources.js';
import type { MeshServer } from './server-client.js';
import { classify, Reason, ReconcileError, sameStatus, syncedOf } from './status.js';
import { duplicateMessage, type KindedResource, olderOwnerOf, othersNamingSameObject } from './uniqueness.js';

export interface ReconcileResult {
  /** Reconcile again after this long even if nothing changes (to refresh status from the server). */
  requeueAfterMs?: number;
}

export interface Reconciler {
  readonly kind: ResourceKind;
  /** Brings the object named by `namespace/name` and the server into agreement. Idempotent. */
  reconcile(key: string): Promise<ReconcileResult>;
}

export interface ReconcilerDeps {
  kube: KubeApi;
  server: MeshServer;
  events: EventRecorder;
  logger: Logger;
  /** How often peering resources re-read the peering's state from the server. */
  statusIntervalMs: number;
  /** How often every resource is reconciled again without a change (drift on the server). */
  resyncIntervalMs: number;
  /** Written into config entries' Meta as consul.hashicorp.com/source-datacenter when set. */
  datacenter?: string;
  /** Every resource of every kind the controller watches (its caches), for the uniqueness checks. */
  resources?: () => Iterable<KindedResource>;
  now?: () => Date;
}

export async function ensureFinalizer(kube: KubeApi, kind: ResourceKind, obj: CustomResource): Promise<void> {
  if (hasFinalizer(obj.metadata)) return;
  await kube.setFinalizers(kind, obj.metadata, [...(obj.metadata.finalizers ?? []), FINALIZER]);
}

export async function removeFinalizer(kube: KubeApi, kind: ResourceKind, obj: CustomResource): Promise<void> {
  if (!hasFinalizer(obj.metadata)) return;
  await kube.setFinalizers(
    kind,
    obj.metadata,
    (obj.metadata.finalizers ?? []).filter((f) => f !== FINALIZER),
  );
}

/**
 * The last step of a reconcile: writes `next` unless it says what `previous` already says, records a
 * Warning event when the Synced condition turns to a new failure, and rethrows a retryable failure
 * so the work queue backs off.
 */
export async function finishReconcile(
  deps: ReconcilerDeps,
  kind: ResourceKind,
  obj: CustomResource,
  previous: { conditions?: unknown } | undefined,
  next: Record<string, unknown> & { conditions: unknown },
  failure: ReconcileError | undefined,
  result: ReconcileResult,
): Promise<ReconcileResult> {
  if (!sameStatus(previous ?? {}, next)) {
    await deps.kube.patchStatus(kind, obj.metadata.namespace ?? '', obj.metadata.name, next);
  }
  if (failure) {
    const before = syncedOf(Array.isArray(previous?.conditions) ? previous.conditions : undefined);
    if (
      (before?.status !== 'False' && before?.status !== 'Unknown') ||
      before.reason !== failure.reason ||
      before.message !== failure.message
    ) {
      await deps.events.record(kind, obj, 'Warning', failure.reason, failure.message);
    }
    deps.logger.warn(
      { kind: kind.kind, object: `${obj.metadata.namespace}/${obj.metadata.name}`, reason: failure.reason },
      failure.message,
    );
    if (failure.retry) throw failure;
  }
  return result;
}

/**
 * The admission webhook's rule, checked again here (a webhook may be off or bypassed): a resource whose
 * peering or config entry an older resource in another namespace already manages must not touch it.
 */
export function assertNotDuplicate(deps: ReconcilerDeps, kind: ResourceKind, obj: CustomResource): void {
  const owner = deps.resources ? olderOwnerOf({ kind, obj }, deps.resources()) : undefined;
  if (owner) {
    throw new ReconcileError(Reason.DuplicateResource, duplicateMessage({ kind, obj }, owner), {
      retry: false,
    });
  }
}

/** Another resource that names the same server object: deleting this one must then leave that object. */
export function otherHolder(
  deps: ReconcilerDeps,
  kind: ResourceKind,
  obj: CustomResource,
): KindedResource | undefined {
  return deps.resources ? othersNamingSameObject({ kind, obj }, deps.resources())[0] : undefined;
}

/** Runs the part of a reconcile that may fail and returns the failure as a value, for the status. */
export async function attempt(step: () => Promise<void>): Promise<ReconcileError | undefined> {
  try {
    await step();
    return undefined;
  } catch (err) {
    return classify(err);
  }
}
