// PeeringDialer: establishes the peering named metadata.name with the token in the Secret named by
// spec.peer.secret, and shows the peering's state. It establishes again when the peering is gone from
// the server, the Secret changed (its resourceVersion, or it was missing and is back), or the
// peering-version annotation was raised.
import {
  assertSecretNotShared,
  failed,
  type Observed,
  parseSpec,
  reconcilePeering,
  requestedVersion,
  streamStatusFields,
  streamSummary,
  withConditions,
  withStreamWarnings,
} from './peering-common.js';
import {
  assertNotDuplicate,
  attempt,
  finishReconcile,
  otherHolder,
  type ReconcileResult,
  type Reconciler,
  type ReconcilerDeps,
  removeFinalizer,
} from './reconciler.js';
import {
  type CustomResource,
  PEERING_DIALER,
  PEERING_VERSION_ANNOTATION,
  type PeeringSpec,
  type PeeringStatus,
} from './resources.js';
import type { Peering } from './server-client.js';
import { Reason, ReconcileError, rfc3339, withSynced } from './status.js';
import { readToken, tokenHash } from './token-secret.js';

export class PeeringDialerReconciler implements Reconciler {
  readonly kind = PEERING_DIALER;

  constructor(private readonly deps: ReconcilerDeps) {}

  reconcile(key: string): Promise<ReconcileResult> {
    return reconcilePeering(this.deps, this.kind, key, {
      sync: (obj, status, seen) => this.sync(obj, status, seen),
      finalize: (obj, status) => this.finalize(obj, status),
    });
  }

  /** Establishes when needed; returns the status that describes the result. */
  private async sync(dialer: CustomResource, status: PeeringStatus, seen: Observed): Promise<PeeringStatus> {
    const { server, kube, events } = this.deps;
    const { name, namespace = 'default' } = dialer.metadata;
    const ref = parseSpec(dialer).peer.secret;
    const version = requestedVersion(dialer);
    assertNotDuplicate(this.deps, this.kind, dialer);
    await assertSecretNotShared(kube, this.kind, dialer, ref.name);

    const secret = await kube.getSecret(namespace, ref.name);
    const token = readToken(secret, namespace, ref);
    const secretVersion = secret?.metadata?.resourceVersion ?? '';
    const peering = await server.readPeering(name);
    if (peering?.State) seen.state = peering.State;
    const why = establishReason(peering, status, ref, secretVersion, version);

    if (why === undefined && peering?.State === 'TERMINATED') {
      throw new ReconcileError(
        Reason.PeeringTerminated,
        `peer "${name}" deleted this peering; to peer again, put a new token from the peer into Secret ${ref.name}`,
        { retry: false },
      );
    }
    if (why === undefined) {
      return this.syncedStatus(
        status,
        ref,
        secretVersion,
        status.secret?.latestHash,
        peering,
        status.latestPeeringVersion ?? version,
      );
    }

    await server.establish({ PeerName: name, PeeringToken: token });
    await events.record(
      this.kind,
      dialer,
      'Normal',
      'PeeringEstablished',
      `established the peering with the token in Secret ${ref.name} because ${why}`,
    );
    const established = await server.readPeering(name);
    return this.syncedStatus(status, ref, secretVersion, tokenHash(token), established, version);
  }

  private syncedStatus(
    status: PeeringStatus,
    ref: PeeringSpec['peer']['secret'],
    secretVersion: string,
    latestHash: string | undefined,
    peering: Peering | undefined,
    version: number,
  ): PeeringStatus {
    const state = peering?.State ?? 'ESTABLISHING';
    const now = this.now();
    return {
      ...status,
      latestPeeringVersion: version,
      secret: {
        name: ref.name,
        key: ref.key,
        backend: ref.backend,
        resourceVersion: secretVersion,
        ...(latestHash ? { latestHash } : {}),
      },
      peeringState: state,
      ...streamStatusFields(peering),
      lastSyncedTime: rfc3339(now),
      conditions: withStreamWarnings(
        withSynced(
          status.conditions,
          {
            status: 'True',
            message: `established with the token in Secret ${ref.name}; the peering is ${state}${streamSummary(peering)}`,
          },
          now,
        ),
        peering,
        now,
      ),
    };
  }

  /** The resource is being deleted: delete the peering (the server tells the peer), then let it go. */
  private async finalize(dialer: CustomResource, status: PeeringStatus): Promise<ReconcileResult> {
    const failure = await attempt(async () => {
      // Another acceptor or dialer of this name (another namespace) keeps the live peering.
      if (!otherHolder(this.deps, this.kind, dialer))
        await this.deps.server.deletePeering(dialer.metadata.name);
      await removeFinalizer(this.deps.kube, this.kind, dialer);
    });
    if (!failure) return {};
    const next = { ...status, conditions: withSynced(status.conditions, failed(failure), this.now()) };
    return finishReconcile(this.deps, this.kind, dialer, status, withConditions(next), failure, {});
  }

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }
}

/** Why the peering must be established (again), as the end of a sentence, or undefined. */
export function establishReason(
  peering: Peering | undefined,
  status: PeeringStatus,
  ref: PeeringSpec['peer']['secret'],
  secretVersion: string,
  version: number,
): string | undefined {
  if (!peering) return 'the peering did not exist on the server';
  const recorded = status.secret;
  if (!recorded?.name) return 'no token had been recorded in the status';
  if (recorded.name !== ref.name || recorded.key !== ref.key || recorded.backend !== ref.backend) {
    return `spec.peer.secret changed (was ${recorded.name}, key "${recorded.key}")`;
  }
  if (recorded.resourceVersion !== secretVersion) return `Secret ${ref.name} changed`;
  if (version > (status.latestPeeringVersion ?? 0)) {
    return `${PEERING_VERSION_ANNOTATION} was raised to ${version}`;
  }
  return undefined;
}
