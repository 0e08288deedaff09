// Resources that name one server object must be unique across namespaces: a server has one peering per
// name (PeeringAcceptor and PeeringDialer alike), one config entry per kind and name (Mesh, whose only
// name is "mesh", is one per cluster). Two resources naming the same object would overwrite each other
// and the deletion of either would delete it. The admission webhook refuses the second one; the
// reconcilers, as a second line, leave the server object to the oldest resource naming it.
import { CONFIG_ENTRY_RESOURCE_KINDS, type ConfigEntryResourceKind } from './config-entry-kinds.js';
import { type CustomResource, PEERING_ACCEPTOR, PEERING_DIALER, type ResourceKind } from './resources.js';

/** A resource together with its kind. */
export interface KindedResource {
  kind: ResourceKind;
  obj: CustomResource;
}

/** The server object a resource names: "peering/<name>" or "config/<entry kind>/<entry name>". */
export function serverObjectOf(kind: ResourceKind, obj: CustomResource): string | undefined {
  if (kind.kind === PEERING_ACCEPTOR.kind || kind.kind === PEERING_DIALER.kind) {
    return `peering/${obj.metadata.name}`;
  }
  const entryKind = CONFIG_ENTRY_RESOURCE_KINDS.find((k) => k.kind === kind.kind) as
    | ConfigEntryResourceKind
    | undefined;
  if (!entryKind) return undefined;
  const name = entryKind.entryName(obj);
  return typeof name === 'string' ? `config/${entryKind.entryKind}/${name}` : undefined;
}

/** What a user reads: `PeeringAcceptor "cluster-02" in namespace "team-a"`. */
export function describeResource(r: KindedResource): string {
  return `${r.kind.kind} "${r.obj.metadata.name}" in namespace "${r.obj.metadata.namespace}"`;
}

function sameResource(a: KindedResource, b: KindedResource): boolean {
  return (
    a.kind.kind === b.kind.kind &&
    a.obj.metadata.namespace === b.obj.metadata.namespace &&
    a.obj.metadata.name === b.obj.metadata.name
  );
}

/** Older first: creation time, then namespace, then kind, so every controller picks the same owner. */
function olderFirst(a: KindedResource, b: KindedResource): number {
  const ta = Date.parse(String(a.obj.metadata.creationTimestamp ?? '')) || Number.MAX_SAFE_INTEGER;
  const tb = Date.parse(String(b.obj.metadata.creationTimestamp ?? '')) || Number.MAX_SAFE_INTEGER;
  if (ta !== tb) return ta - tb;
  const ns = String(a.obj.metadata.namespace).localeCompare(String(b.obj.metadata.namespace));
  return ns !== 0 ? ns : a.kind.kind.localeCompare(b.kind.kind);
}

/** The other resources that name the same server object as `subject` (deleting ones excluded). */
export function othersNamingSameObject(
  subject: KindedResource,
  candidates: Iterable<KindedResource>,
): KindedResource[] {
  const target = serverObjectOf(subject.kind, subject.obj);
  if (target === undefined) return [];
  const out: KindedResource[] = [];
  for (const c of candidates) {
    if (sameResource(c, subject) || c.obj.metadata.deletionTimestamp) continue;
    if (serverObjectOf(c.kind, c.obj) === target) out.push(c);
  }
  return out;
}

/** The resource that owns the server object instead of `subject`, if one is older; undefined if `subject` owns it. */
export function olderOwnerOf(
  subject: KindedResource,
  candidates: Iterable<KindedResource>,
): KindedResource | undefined {
  const older = othersNamingSameObject(subject, candidates).filter((c) => olderFirst(c, subject) < 0);
  return older.sort(olderFirst)[0];
}

/** The sentence that refuses or flags a duplicate, naming the resource that already holds the object. */
export function duplicateMessage(subject: KindedResource, holder: KindedResource): string {
  const target = serverObjectOf(subject.kind, subject.obj) ?? '';
  const what = target.startsWith('peering/')
    ? `the peering "${subject.obj.metadata.name}"`
    : `the config entry ${target.slice('config/'.length)}`;
  return (
    `${describeResource(holder)} already manages ${what} on the server; a cluster has one per name, ` +
    `so ${describeResource(subject)} would overwrite it (and deleting either would delete it). ` +
    `Use ${describeResource(holder)}, or delete it first`
  );
}
