// PeeringAcceptor: keeps a peering token for the peer named metadata.name in the Secret named by
// spec.peer.secret, and shows the peering's state. A new token is generated only when the peering is
// gone from the server, the Secret's name or key changed, the Secret was deleted, or the
// peering-version annotation was raised; never because someone edited the Secret's content.
import {
  assertSecretNotShared,
  failed,
  type Observed,
  parseSpec,
  parseSpecOrUndefined,
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
  PEERING_ACCEPTOR,
  PEERING_VERSION_ANNOTATION,
  type PeeringSpec,
  type PeeringStatus,
} from './resources.js';
import type { Peering } from './server-client.js';
import { Reason, ReconcileError, rfc3339, withCondition, withSynced } from './status.js';
import { isTokenSecret, tokenHash, tokenSecret } from './token-secret.js';

export class PeeringAcceptorReconciler implements Reconciler {
  readonly kind = PEERING_ACCEPTOR;

  constructor(private readonly deps: ReconcilerDeps) {}

  reconcile(key: string): Promise<ReconcileResult> {
    return reconcilePeering(this.deps, this.kind, key, {
      sync: (obj, status, seen) => this.sync(obj, status, seen),
      finalize: (obj, status) => this.finalize(obj, status),
    });
  }

  /** Makes sure a usable token is in the Secret; returns the status that describes the result. */
  private async sync(
    acceptor: CustomResource,
    status: PeeringStatus,
    seen: Observed,
  ): Promise<PeeringStatus> {
    const { server, kube, events } = this.deps;
    const { name, namespace = 'default' } = acceptor.metadata;
    const ref = parseSpec(acceptor).peer.secret;
    const version = requestedVersion(acceptor);
    assertNotDuplicate(this.deps, this.kind, acceptor);
    await assertSecretNotShared(kube, this.kind, acceptor, ref.name);

    const peering = await server.readPeering(name);
    if (peering?.State) seen.state = peering.State;
    const throughGateways = await this.peerThroughMeshGateways();
    const secret = await kube.getSecret(namespace, ref.name);
    const why = regenerationReason(peering, status, ref, secret !== undefined, version);

    if (why === undefined && peering?.State === 'TERMINATED') {
      throw new ReconcileError(
        Reason.PeeringTerminated,
        `peer "${name}" deleted this peering; to peer again, raise the ${PEERING_VERSION_ANNOTATION} annotation ` +
          'to generate a new token and give it to the peer',
        { retry: false },
      );
    }
    if (why === undefined) {
      const next = this.syncedStatus(
        status,
        ref,
        status.secret?.latestHash,
        peering,
        status.latestPeeringVersion ?? version,
        status.peerThroughMeshGateways,
        throughGateways,
      );
      await this.announceOutdatedToken(acceptor, status, next);
      return next;
    }

    const token = await server.generateToken({ PeerName: name });
    if (secret) await kube.replaceSecret(namespace, tokenSecret(namespace, ref, token, secret));
    else await kube.createSecret(namespace, tokenSecret(namespace, ref, token));
    await this.deleteOldSecret(namespace, status, ref.name);
    await events.record(
      this.kind,
      acceptor,
      'Normal',
      'PeeringTokenGenerated',
      `generated a new peering token because ${why}; it is in Secret ${ref.name}, key "${ref.key}"`,
    );
    const generated = await server.readPeering(name);
    return this.syncedStatus(
      status,
      ref,
      tokenHash(token),
      generated,
      version,
      throughGateways,
      throughGateways,
    );
  }

  private syncedStatus(
    status: PeeringStatus,
    ref: PeeringSpec['peer']['secret'],
    latestHash: string | undefined,
    peering: Peering | undefined,
    version: number,
    tokenThroughGateways: boolean | undefined,
    throughGateways: boolean,
  ): PeeringStatus {
    const state = peering?.State ?? 'PENDING';
    const now = this.now();
    const outdated = outdatedTokenNote(ref, tokenThroughGateways, throughGateways);
    return {
      ...status,
      latestPeeringVersion: version,
      ...(tokenThroughGateways === undefined ? {} : { peerThroughMeshGateways: tokenThroughGateways }),
      secret: { name: ref.name, key: ref.key, backend: ref.backend, ...(latestHash ? { latestHash } : {}) },
      peeringState: state,
      ...streamStatusFields(peering),
      lastSyncedTime: rfc3339(now),
      conditions: withCondition(
        withStreamWarnings(
          withSynced(
            status.conditions,
            {
              status: 'True',
              message: `the peering token is in Secret ${ref.name}; the peering is ${state}${streamSummary(peering)}`,
            },
            now,
          ),
          peering,
          now,
        ),
        TOKEN_CURRENT,
        outdated === undefined
          ? undefined
          : { status: 'False', reason: 'MeshChangedAfterToken', message: outdated },
        now,
      ),
    };
  }

  /** Mesh spec.peering.peerThroughMeshGateways as the server has it now (the addresses a new token gets). */
  private async peerThroughMeshGateways(): Promise<boolean> {
    const mesh = await this.deps.server.readConfigEntry('mesh', 'mesh');
    const peering = (mesh as { Peering?: { PeerThroughMeshGateways?: unknown } } | undefined)?.Peering;
    return peering?.PeerThroughMeshGateways === true;
  }

  /** A Warning Event when the token newly stops matching the Mesh setting. */
  private async announceOutdatedToken(
    acceptor: CustomResource,
    before: PeeringStatus,
    after: PeeringStatus,
  ): Promise<void> {
    const now = after.conditions?.find((c) => c.type === TOKEN_CURRENT);
    const was = before.conditions?.find((c) => c.type === TOKEN_CURRENT);
    if (now && now.message !== was?.message) {
      await this.deps.events.record(
        this.kind,
        acceptor,
        'Warning',
        now.reason ?? 'TokenOutdated',
        now.message ?? '',
      );
    }
  }

  /** The resource is being deleted: delete the peering and the token Secret, then let it go. */
  private async finalize(acceptor: CustomResource, status: PeeringStatus): Promise<ReconcileResult> {
    const { server, kube } = this.deps;
    const { name, namespace = 'default' } = acceptor.metadata;
    const failure = await attempt(async () => {
      // Another acceptor or dialer of this name (another namespace) keeps the live peering.
      if (!otherHolder(this.deps, this.kind, acceptor)) await server.deletePeering(name);
      const secretName = status.secret?.name ?? parseSpecOrUndefined(acceptor)?.peer.secret.name;
      if (secretName) {
        const secret = await kube.getSecret(namespace, secretName);
        if (isTokenSecret(secret)) await kube.deleteSecret(namespace, secretName);
      }
      await removeFinalizer(kube, this.kind, acceptor);
    });
    if (!failure) return {};
    const next = { ...status, conditions: withSynced(status.conditions, failed(failure), this.now()) };
    return finishReconcile(this.deps, this.kind, acceptor, status, withConditions(next), failure, {});
  }

  /** When the spec moved the token to another Secret, the old one (if the controller made it) goes. */
  private async deleteOldSecret(namespace: string, status: PeeringStatus, current: string): Promise<void> {
    const old = status.secret?.name;
    if (!old || old === current) return;
    const secret = await this.deps.kube.getSecret(namespace, old);
    if (isTokenSecret(secret)) await this.deps.kube.deleteSecret(namespace, old);
  }

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }
}

/** Why a new token is needed, as the end of a sentence, or undefined when the current one stands. */
export function regenerationReason(
  peering: Peering | undefined,
  status: PeeringStatus,
  ref: PeeringSpec['peer']['secret'],
  secretExists: boolean,
  version: number,
): string | undefined {
  if (!peering) return 'the peering did not exist on the server';
  if (!status.secret?.name) return 'no token had been recorded in the status';
  if (
    status.secret.name !== ref.name ||
    status.secret.key !== ref.key ||
    status.secret.backend !== ref.backend
  ) {
    return `spec.peer.secret changed (was ${status.secret.name}, key "${status.secret.key}")`;
  }
  if (!secretExists) return `Secret ${ref.name} was deleted`;
  if (version > (status.latestPeeringVersion ?? 0)) {
    return `${PEERING_VERSION_ANNOTATION} was raised to ${version}`;
  }
  return undefined;
}

/** The condition that says whether the token in the Secret still carries the addresses peers should dial. */
const TOKEN_CURRENT = 'TokenCurrent';

/**
 * Why the token no longer fits Mesh spec.peering.peerThroughMeshGateways, or undefined when it does (or
 * when the token predates this record). A token carries the addresses in force when it was generated, so
 * turning the setting on later leaves the dialer dialing the servers directly.
 */
export function outdatedTokenNote(
  ref: PeeringSpec['peer']['secret'],
  tokenThroughGateways: boolean | undefined,
  throughGateways: boolean,
): string | undefined {
  if (tokenThroughGateways === undefined || tokenThroughGateways === throughGateways) return undefined;
  const carries = tokenThroughGateways ? "the mesh gateways' addresses" : "the servers' addresses";
  return (
    `the token in Secret ${ref.name} carries ${carries}: Mesh spec.peering.peerThroughMeshGateways was ` +
    `${throughGateways ? 'turned on' : 'turned off'} after it was generated, so the peer keeps dialing ` +
    `${tokenThroughGateways ? 'the gateways' : 'the servers directly'}. Regenerate it: raise the ` +
    `${PEERING_VERSION_ANNOTATION} annotation, then give the new token to the peer`
  );
}
