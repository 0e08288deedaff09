// What the two peering resources share: the shape of their reconcile, reading their spec, status and
// version annotation, and the words their Synced condition uses.
import { describeZodError } from '../shared/zod-message.js';
import type { KubeApi } from './kube-api.js';
import {
  attempt,
  ensureFinalizer,
  finishReconcile,
  type ReconcileResult,
  type ReconcilerDeps,
} from './reconciler.js';
import {
  type Condition,
  type CustomResource,
  isDeleting,
  type PeeringSpec,
  type PeeringStatus,
  peeringSpecSchema,
  peeringStatusSchema,
  peeringVersion,
  type ResourceKind,
  SECRET_BACKEND_KUBERNETES,
  splitKey,
} from './resources.js';
import type { Peering } from './server-client.js';
import { Reason, ReconcileError, withCondition, withSynced } from './status.js';

/** What a reconcile saw of the peering before it failed, so the status still shows it. */
export interface Observed {
  state?: string;
}

export function parseStatus(raw: unknown): PeeringStatus {
  const result = peeringStatusSchema.safeParse(raw ?? {});
  return result.success ? result.data : {};
}

/** The spec, checked; a spec the controller cannot use is the user's to fix. */
export function parseSpec(obj: CustomResource): PeeringSpec {
  const result = peeringSpecSchema.safeParse(obj.spec);
  if (!result.success) {
    throw new ReconcileError(
      Reason.InvalidSecret,
      `invalid spec: ${describeZodError(result.error, 'spec')}`,
      {
        retry: false,
      },
    );
  }
  const { backend } = result.data.peer.secret;
  if (backend !== SECRET_BACKEND_KUBERNETES) {
    throw new ReconcileError(
      Reason.InvalidSecret,
      `spec.peer.secret.backend must be "${SECRET_BACKEND_KUBERNETES}", got ${JSON.stringify(backend)}`,
      { retry: false },
    );
  }
  return result.data;
}

export function parseSpecOrUndefined(obj: CustomResource): PeeringSpec | undefined {
  const result = peeringSpecSchema.safeParse(obj.spec);
  return result.success ? result.data : undefined;
}

export function requestedVersion(obj: CustomResource): number {
  const version = peeringVersion(obj.metadata);
  if (typeof version === 'number') return version;
  throw new ReconcileError(Reason.InvalidAnnotation, version.problem, { retry: false });
}

export function failed(failure: ReconcileError): { status: 'False'; reason: string; message: string } {
  return { status: 'False', reason: failure.reason, message: failure.message };
}

export function withConditions(status: PeeringStatus): PeeringStatus & { conditions: unknown } {
  return { ...status, conditions: status.conditions ?? [] };
}

/** ", importing 1 and exporting 2 services" when the stream reports them. */
/** The live stream facts a peering CRD's status carries: the state ACTIVE alone says too little. */
export function streamStatusFields(peering: Peering | undefined): {
  importedServices?: number;
  exportedServices?: number;
  lastReceiveTime?: string;
} {
  const s = peering?.StreamStatus;
  if (!s) return {};
  // A terminated peering exchanges nothing, whatever its last stream status listed.
  const ended = peering?.State === 'TERMINATED';
  return {
    importedServices: ended ? 0 : (s.ImportedServices?.length ?? 0),
    exportedServices: ended ? 0 : (s.ExportedServices?.length ?? 0),
    ...(s.LastReceive ? { lastReceiveTime: s.LastReceive } : {}),
  };
}

/** Condition type that carries the server's warnings about a peering (exports that cannot arrive, ...). */
export const STREAM_WARNINGS = 'StreamWarnings';

/** The conditions with StreamWarnings set from the server's warnings, or removed when there are none. */
export function withStreamWarnings(
  conditions: Condition[],
  peering: Peering | undefined,
  now: Date,
): Condition[] {
  const warnings = peering?.StreamStatus?.Warnings ?? [];
  return withCondition(
    conditions,
    STREAM_WARNINGS,
    warnings.length === 0
      ? undefined
      : { status: 'True', reason: 'PeeringWarnings', message: warnings.join('; ') },
    now,
  );
}

export function streamSummary(peering: Peering | undefined): string {
  const imported = peering?.StreamStatus?.ImportedServices?.length ?? 0;
  const exported = peering?.StreamStatus?.ExportedServices?.length ?? 0;
  if (!peering?.StreamStatus || (imported === 0 && exported === 0)) return '';
  return `, importing ${imported} and exporting ${exported} service${imported + exported === 1 ? '' : 's'}`;
}

/**
 * Two acceptors (or two dialers) of one namespace must not share a Secret: each would overwrite the
 * other's token. The oldest keeps it; a later one is refused until it names another Secret.
 */
export async function assertSecretNotShared(
  kube: KubeApi,
  kind: ResourceKind,
  obj: CustomResource,
  secretName: string,
): Promise<void> {
  const { items } = await kube.listResources(kind, obj.metadata.namespace);
  const mine = age(obj);
  const holder = items.find((other) => {
    if (other.metadata.name === obj.metadata.name) return false;
    if (parseSpecOrUndefined(other)?.peer.secret.name !== secretName) return false;
    const theirs = age(other);
    return theirs < mine || (theirs === mine && other.metadata.name < obj.metadata.name);
  });
  if (holder) {
    throw new ReconcileError(
      Reason.InvalidSecret,
      `Secret ${secretName} is already used by ${kind.kind} ${holder.metadata.name} in this namespace; ` +
        'give each its own Secret',
      { retry: false },
    );
  }
}

function age(obj: CustomResource): string {
  const created = obj.metadata.creationTimestamp;
  return typeof created === 'string' ? created : '';
}

export interface PeeringReconcileSteps {
  /** Makes the server and the Secret what the resource asks for; returns the status that says so. */
  sync(obj: CustomResource, status: PeeringStatus, seen: Observed): Promise<PeeringStatus>;
  /** Runs the finalizer of a resource being deleted. */
  finalize(obj: CustomResource, status: PeeringStatus): Promise<ReconcileResult>;
}

/**
 * The reconcile both peering kinds share, top to bottom: fetch, finalize if deleting, make sure of the
 * finalizer, sync, and write the status once (a failure becomes the Synced condition, keeping the last
 * peering state seen).
 */
export async function reconcilePeering(
  deps: ReconcilerDeps,
  kind: ResourceKind,
  key: string,
  steps: PeeringReconcileSteps,
): Promise<ReconcileResult> {
  const { kube } = deps;
  const { namespace, name } = splitKey(key);
  const obj = await kube.getResource(kind, namespace, name);
  if (!obj) return {};
  const status = parseStatus(obj.status);
  if (isDeleting(obj.metadata)) return steps.finalize(obj, status);
  await ensureFinalizer(kube, kind, obj);

  let next: PeeringStatus = status;
  const seen: Observed = {};
  let failure = await attempt(async () => {
    next = await steps.sync(obj, status, seen);
  });
  if (failure?.unreachable) {
    failure = new ReconcileError(
      failure.reason,
      `${failure.message}; the peering's state is unknown until the server answers`,
      { unreachable: true, retry: failure.retry },
    );
  }
  if (failure) {
    next = failure.unreachable
      ? {
          // The server is down: the peering's state is unknown, not whatever it last was.
          ...status,
          peeringState: 'UNKNOWN',
          conditions: withSynced(
            status.conditions,
            { status: 'Unknown', reason: failure.reason, message: failure.message },
            deps.now?.() ?? new Date(),
          ),
        }
      : {
          ...status,
          ...(seen.state ? { peeringState: seen.state } : {}),
          conditions: withSynced(status.conditions, failed(failure), deps.now?.() ?? new Date()),
        };
  }
  return finishReconcile(deps, kind, obj, status, withConditions(next), failure, {
    requeueAfterMs: deps.statusIntervalMs,
  });
}
