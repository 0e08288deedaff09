// The Kubernetes side of meshpeer's data: the CRDs in deploy/crds (group, plurals, spec and status
// shapes), and the annotations, labels and finalizer the controller reads and writes.
import { z } from 'zod';

export const GROUP = 'consul.hashicorp.com';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export const FINALIZER = 'finalizers.consul.hashicorp.com';
export const PEERING_VERSION_ANNOTATION = 'consul.hashicorp.com/peering-version';
export const MIGRATE_ENTRY_ANNOTATION = 'consul.hashicorp.com/migrate-entry';
export const PEERING_TOKEN_LABEL = 'consul.hashicorp.com/peering-token';
export const EXTERNAL_SOURCE_META = 'external-source';
export const EXTERNAL_SOURCE_KUBERNETES = 'kubernetes';
export const SOURCE_DATACENTER_META = 'consul.hashicorp.com/source-datacenter';
export const SECRET_BACKEND_KUBERNETES = 'kubernetes';

export interface ResourceKind {
  /** The CRD's kind, e.g. PeeringAcceptor. */
  kind: string;
  plural: string;
}

export const PEERING_ACCEPTOR: ResourceKind = { kind: 'PeeringAcceptor', plural: 'peeringacceptors' };
export const PEERING_DIALER: ResourceKind = { kind: 'PeeringDialer', plural: 'peeringdialers' };

/** The metadata fields the controller uses; the API server sends more, which pass through. */
export const objectMetaSchema = z.looseObject({
  name: z.string(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  generation: z.number().optional(),
  creationTimestamp: z.string().optional(),
  annotations: z.record(z.string(), z.string()).nullish(),
  labels: z.record(z.string(), z.string()).nullish(),
  finalizers: z.array(z.string()).nullish(),
  deletionTimestamp: z.unknown().optional(),
});
export type ObjectMeta = z.infer<typeof objectMetaSchema>;

export const conditionSchema = z.object({
  type: z.string(),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().optional(),
  message: z.string().optional(),
  lastTransitionTime: z.string().optional(),
});
export type Condition = z.infer<typeof conditionSchema>;

export const secretRefSchema = z.object({
  name: z.string().min(1),
  key: z.string().min(1),
  backend: z.string(),
});
export type SecretRef = z.infer<typeof secretRefSchema>;

export const peeringSpecSchema = z.looseObject({
  peer: z.looseObject({ secret: secretRefSchema }),
});
export type PeeringSpec = z.infer<typeof peeringSpecSchema>;

export const peeringStatusSchema = z.looseObject({
  conditions: z.array(conditionSchema).optional(),
  lastSyncedTime: z.string().optional(),
  latestPeeringVersion: z.number().int().optional(),
  /** Mesh spec.peering.peerThroughMeshGateways when the current token was generated (acceptors). */
  peerThroughMeshGateways: z.boolean().optional(),
  peeringState: z.string().optional(),
  importedServices: z.number().int().optional(),
  exportedServices: z.number().int().optional(),
  lastReceiveTime: z.string().optional(),
  secret: z
    .object({
      name: z.string().optional(),
      key: z.string().optional(),
      backend: z.string().optional(),
      latestHash: z.string().optional(),
      resourceVersion: z.string().optional(),
    })
    .optional(),
});
export type PeeringStatus = z.infer<typeof peeringStatusSchema>;

export const configEntryStatusSchema = z.looseObject({
  conditions: z.array(conditionSchema).optional(),
  lastSyncedTime: z.string().optional(),
});
export type ConfigEntryStatus = z.infer<typeof configEntryStatusSchema>;

/** Any namespaced custom resource as the API server returns it; spec and status are checked per kind. */
export const customResourceSchema = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: objectMetaSchema,
  spec: z.unknown().optional(),
  status: z.unknown().optional(),
});
export type CustomResource = z.infer<typeof customResourceSchema>;

/** `namespace/name`, the key of the work queues. */
export function objectKey(meta: { name?: string; namespace?: string }): string {
  return `${meta.namespace ?? ''}/${meta.name ?? ''}`;
}

export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return slash < 0
    ? { namespace: '', name: key }
    : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

export function isDeleting(meta: ObjectMeta): boolean {
  return meta.deletionTimestamp !== undefined && meta.deletionTimestamp !== null;
}

export function hasFinalizer(meta: ObjectMeta): boolean {
  return (meta.finalizers ?? []).includes(FINALIZER);
}

/**
 * The value of the peering-version annotation: 0 when absent. Anything but a non-negative integer is
 * a user error the caller reports.
 */
export function peeringVersion(meta: ObjectMeta): number | { problem: string } {
  const raw = meta.annotations?.[PEERING_VERSION_ANNOTATION];
  if (raw === undefined || raw.trim() === '') return 0;
  if (!/^\d+$/.test(raw.trim())) {
    return {
      problem: `annotation ${PEERING_VERSION_ANNOTATION} must be a non-negative integer, got ${JSON.stringify(raw)}`,
    };
  }
  return Number(raw.trim());
}
