// A config-entry resource (Mesh, ExportedServices, ProxyDefaults, ServiceIntentions, ServiceResolver):
// writes its spec to the server as a config entry marked `external-source: kubernetes`, leaves alone
// an entry someone else made (unless the resource asks to migrate it), and deletes the entry when the
// resource is deleted. One instance per kind; the kind's table entry says how spec becomes entry.
import {
  type ConfigEntryKind,
  normalizeConfigEntryShape,
  parseConfigEntryOfKind,
  resolverPeers,
  SERVICE_RESOLVER_KIND,
} from '../config-entries/index.js';
import { isMeshpeerError } from '../shared/errors.js';
import type { ConfigEntryResourceKind } from './config-entry-kinds.js';
import {
  assertNotDuplicate,
  attempt,
  ensureFinalizer,
  finishReconcile,
  otherHolder,
  type ReconcileResult,
  type Reconciler,
  type ReconcilerDeps,
  removeFinalizer,
} from './reconciler.js';
import {
  type ConfigEntryStatus,
  type CustomResource,
  configEntryStatusSchema,
  EXTERNAL_SOURCE_KUBERNETES,
  EXTERNAL_SOURCE_META,
  isDeleting,
  MIGRATE_ENTRY_ANNOTATION,
  SOURCE_DATACENTER_META,
  splitKey,
} from './resources.js';
import type { StoredEntry } from './server-client.js';
import { Reason, ReconcileError, rfc3339, stableJson, withCondition, withSynced } from './status.js';

/** ServiceResolver only: whether the peers it names are peerings of this cluster. */
const PEERS_KNOWN = 'PeersKnown';
type PeersCondition = { status: 'True' | 'False'; reason: string; message?: string };

import { describeResource } from './uniqueness.js';

export class ConfigEntryReconciler implements Reconciler {
  constructor(
    readonly kind: ConfigEntryResourceKind,
    private readonly deps: ReconcilerDeps,
  ) {}

  async reconcile(key: string): Promise<ReconcileResult> {
    const { kube } = this.deps;
    const { namespace, name } = splitKey(key);

    const obj = await kube.getResource(this.kind, namespace, name);
    if (!obj) return {};
    const status = parseStatus(obj.status);

    if (isDeleting(obj.metadata)) return this.finalize(obj, status);
    await ensureFinalizer(kube, this.kind, obj);

    let wrote = false;
    let peers: PeersCondition | undefined;
    const failure = await attempt(async () => {
      wrote = await this.sync(obj);
      peers = await this.peersCondition(obj);
    });
    const now = this.deps.now?.() ?? new Date();
    const synced = withSynced(
      status.conditions,
      failure ? { status: 'False', reason: failure.reason, message: failure.message } : { status: 'True' },
      now,
    );
    const next = {
      ...status,
      conditions: failure ? synced : withCondition(synced, PEERS_KNOWN, peers, now),
      ...(failure ? {} : { lastSyncedTime: rfc3339(now) }),
    };
    // A write (the entry was missing or differed, e.g. re-created after someone deleted it) moves
    // lastSyncedTime even when the rest of the status reads the same.
    return finishReconcile(this.deps, this.kind, obj, wrote ? {} : status, next, failure, {
      requeueAfterMs: this.deps.resyncIntervalMs,
    });
  }

  /** Writes the entry unless the server already holds exactly it; says whether it wrote. */
  private async sync(obj: CustomResource): Promise<boolean> {
    const { server, events } = this.deps;
    assertNotDuplicate(this.deps, this.kind, obj);
    const desired = this.desiredEntry(obj);
    const entryKind = this.kind.entryKind;
    const entryName = String(desired.Name);

    const existing = await server.readConfigEntry(entryKind, entryName);
    if (existing && !this.isOurs(existing) && !wantsMigration(obj)) {
      throw new ReconcileError(
        Reason.EntryExists,
        `config entry ${entryKind}/${entryName} already exists on the server and was not created from Kubernetes; ` +
          `to manage it from this resource, add the annotation ${MIGRATE_ENTRY_ANNOTATION}: "true"`,
      );
    }
    if (existing && sameEntry(entryKind, existing, desired)) return false;

    const written = await server.writeConfigEntry(desired, existing?.ModifyIndex ?? 0);
    if (!written) {
      throw new ReconcileError(
        Reason.ConsulAgentError,
        `config entry ${entryKind}/${entryName} changed on the server while it was being written; retrying`,
      );
    }
    await events.record(
      this.kind,
      obj,
      'Normal',
      existing ? 'ConfigEntryUpdated' : 'ConfigEntryCreated',
      `${existing ? 'updated' : 'created'} config entry ${entryKind}/${entryName} on the server`,
    );
    return true;
  }

  /**
   * For a ServiceResolver: whether the peers its failover targets and redirect name are peerings of this
   * cluster. Consul accepts a resolver naming an unknown peer (the peering may come later), so the entry
   * is written either way; the condition (and a Warning event when it turns False) says what is missing.
   */
  private async peersCondition(obj: CustomResource): Promise<PeersCondition | undefined> {
    if (this.kind.entryKind !== SERVICE_RESOLVER_KIND) return undefined;
    const named = resolverPeers(parseConfigEntryOfKind(SERVICE_RESOLVER_KIND, this.desiredEntry(obj)));
    if (named.length === 0) return undefined;
    const { peerings } = await this.deps.server.listPeerings({ index: 0, waitMs: 0 });
    const known = new Set(peerings.filter((p) => p.State !== 'TERMINATED').map((p) => p.Name));
    const unknown = named.filter((peer) => !known.has(peer));
    if (unknown.length === 0) return { status: 'True', reason: 'PeersKnown' };
    const message = unknown
      .map((peer) => `failover target peer ${JSON.stringify(peer)} is not a peering of this cluster`)
      .join('; ');
    const before = (
      isPlainObject(obj.status) && Array.isArray(obj.status.conditions) ? obj.status.conditions : []
    ).find((c: { type?: string }) => c?.type === PEERS_KNOWN) as
      | { status?: string; message?: string }
      | undefined;
    if (before?.status !== 'False' || before.message !== message)
      await this.deps.events.record(this.kind, obj, 'Warning', 'UnknownPeer', message);
    return { status: 'False', reason: 'UnknownPeer', message };
  }

  /** The entry this resource describes, validated; a spec that makes no valid entry is the user's to fix. */
  private desiredEntry(obj: CustomResource): Record<string, unknown> {
    const name = this.kind.entryName(obj);
    if (typeof name !== 'string')
      throw new ReconcileError(Reason.ValidationError, name.problem, { retry: false });
    const spec = isPlainObject(obj.spec) ? obj.spec : {};
    const meta: Record<string, string> = { [EXTERNAL_SOURCE_META]: EXTERNAL_SOURCE_KUBERNETES };
    if (this.deps.datacenter) meta[SOURCE_DATACENTER_META] = this.deps.datacenter;
    const shaped = normalizeConfigEntryShape({
      ...this.kind.entryFields(spec),
      Kind: this.kind.entryKind,
      Name: name,
      Meta: meta,
    });
    try {
      parseConfigEntryOfKind(this.kind.entryKind, shaped);
    } catch (err) {
      if (!isMeshpeerError(err)) throw err;
      throw new ReconcileError(Reason.ValidationError, err.message, { retry: false });
    }
    return shaped as Record<string, unknown>;
  }

  /** Made by a controller (of this datacenter, when both sides name one). */
  private isOurs(entry: StoredEntry): boolean {
    if (entry.Meta?.[EXTERNAL_SOURCE_META] !== EXTERNAL_SOURCE_KUBERNETES) return false;
    const theirs = entry.Meta?.[SOURCE_DATACENTER_META];
    return !this.deps.datacenter || !theirs || theirs === this.deps.datacenter;
  }

  /** The resource is being deleted: delete its entry (only if a controller made it), then let it go. */
  private async finalize(obj: CustomResource, status: ConfigEntryStatus): Promise<ReconcileResult> {
    const { server, kube, events } = this.deps;
    const failure = await attempt(async () => {
      const name = this.kind.entryName(obj);
      const holder = otherHolder(this.deps, this.kind, obj);
      if (holder) {
        await events.record(
          this.kind,
          obj,
          'Normal',
          'ConfigEntryKept',
          `left config entry ${this.kind.entryKind}/${String(name)} on the server: ${describeResource(holder)} names it too`,
        );
      } else if (typeof name === 'string') {
        const existing = await server.readConfigEntry(this.kind.entryKind, name);
        if (existing && this.isOurs(existing)) {
          await server.deleteConfigEntry(this.kind.entryKind, name);
          await events.record(
            this.kind,
            obj,
            'Normal',
            'ConfigEntryDeleted',
            `deleted config entry ${this.kind.entryKind}/${name} from the server`,
          );
        }
      }
      await removeFinalizer(kube, this.kind, obj);
    });
    if (!failure) return {};
    const next = {
      ...status,
      conditions: withSynced(
        status.conditions,
        { status: 'False', reason: failure.reason, message: failure.message },
        this.deps.now?.() ?? new Date(),
      ),
    };
    return finishReconcile(this.deps, this.kind, obj, status, next, failure, {});
  }
}

function parseStatus(raw: unknown): ConfigEntryStatus {
  const result = configEntryStatusSchema.safeParse(raw ?? {});
  return result.success ? result.data : {};
}

function wantsMigration(obj: CustomResource): boolean {
  return obj.metadata.annotations?.[MIGRATE_ENTRY_ANNOTATION] === 'true';
}

/** Whether the stored entry already says what the resource says (compared after defaults are applied). */
function sameEntry(kind: ConfigEntryKind, existing: StoredEntry, desired: Record<string, unknown>): boolean {
  try {
    const stored = parseConfigEntryOfKind(kind, normalizeConfigEntryShape({ ...existing, Kind: kind }));
    return stableJson(stored) === stableJson(parseConfigEntryOfKind(kind, desired));
  } catch {
    return false;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
