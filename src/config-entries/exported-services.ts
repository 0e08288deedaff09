// The exported-services config entry: which services this cluster offers, and to which consumers
// (peers, partitions, sameness groups). Also the query replication uses: what one peer may see.
import { z } from 'zod';
import { commonFields, fixedNameSchema } from './common.js';
import { isSet, peerNameSchema, serviceNameSchema, WILDCARD } from './names.js';

export const EXPORTED_SERVICES_KIND = 'exported-services';
export const EXPORTED_SERVICES_NAME = 'default';

/** Consul's own service is never exported by a wildcard. */
const NEVER_WILDCARD_EXPORTED = new Set(['consul']);

const CONSUMER_FIELDS = ['Peer', 'Partition', 'SamenessGroup'] as const;

const consumerSchema = z.strictObject({
  Peer: peerNameSchema.optional(),
  Partition: z.string().optional(),
  SamenessGroup: z.string().optional(),
});
export type ExportedServiceConsumer = z.output<typeof consumerSchema>;

function consumerKey(consumer: ExportedServiceConsumer): string {
  const field = CONSUMER_FIELDS.find((f) => isSet(consumer[f]));
  return `${field}=${field ? consumer[field] : ''}`;
}

const exportedServiceSchema = z
  .strictObject({
    Name: serviceNameSchema,
    Namespace: z.string().optional(),
    Consumers: z.array(consumerSchema),
  })
  .superRefine((service, ctx) => {
    if (service.Consumers.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['Consumers'],
        message:
          'must list at least one consumer ({ Peer = "..." }, { Partition = "..." } or { SamenessGroup = "..." })',
      });
    }
    const seen = new Map<string, number>();
    service.Consumers.forEach((consumer, i) => {
      const given = CONSUMER_FIELDS.filter((f) => isSet(consumer[f]));
      if (given.length !== 1) {
        const found = given.length === 0 ? 'none is set' : `found ${given.join(' and ')}`;
        ctx.addIssue({
          code: 'custom',
          path: ['Consumers', i],
          message: `must set exactly one of Peer, Partition or SamenessGroup (${found})`,
        });
        return;
      }
      const key = consumerKey(consumer);
      const first = seen.get(key);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['Consumers', i],
          message: `repeats Consumers[${first}] (${key.replace('=', ' ')})`,
        });
      } else {
        seen.set(key, i);
      }
    });
  });
export type ExportedService = z.output<typeof exportedServiceSchema>;

export const exportedServicesSchema = z
  .strictObject({
    ...commonFields(EXPORTED_SERVICES_KIND),
    Name: fixedNameSchema(EXPORTED_SERVICES_KIND, EXPORTED_SERVICES_NAME),
    // Optional, as in Consul: an entry written without services reads back without them (not as []).
    Services: z
      .array(exportedServiceSchema)
      .nullish()
      .transform((v) => v ?? undefined),
  })
  .superRefine((entry, ctx) => {
    const seen = new Map<string, number>();
    (entry.Services ?? []).forEach((service, i) => {
      const key = `${service.Namespace || 'default'}/${service.Name}`;
      const first = seen.get(key);
      if (first === undefined) {
        seen.set(key, i);
        return;
      }
      ctx.addIssue({
        code: 'custom',
        path: ['Services', i, 'Name'],
        message: `service ${JSON.stringify(service.Name)} is already listed at Services[${first}]; list each service once, with all its consumers`,
      });
    });
  });
export type ExportedServicesEntry = z.output<typeof exportedServicesSchema>;

/**
 * The names of the services `entry` exports to `peer`. A `*` entry stands for every name in
 * `allServiceNames` (the caller passes the services it could export: regular services, not
 * sidecars or gateways); `consul` itself is never exported by a wildcard. Names listed explicitly are
 * returned even when no such service is registered, so callers can say "exported, but no instances".
 * Sameness-group consumers are not resolved here.
 */
export function exportedServicesFor(
  entry: ExportedServicesEntry | undefined,
  peer: string,
  allServiceNames: string[],
): Set<string> {
  const names = new Set<string>();
  if (!entry || peer === '') return names;
  for (const service of entry.Services ?? []) {
    if (!service.Consumers.some((consumer) => consumer.Peer === peer)) continue;
    if (service.Name === WILDCARD) {
      for (const name of allServiceNames) {
        if (!NEVER_WILDCARD_EXPORTED.has(name)) names.add(name);
      }
    } else {
      names.add(service.Name);
    }
  }
  return names;
}

/** The peers `entry` exports at least one service to, in first-mention order. */
export function consumerPeers(entry: ExportedServicesEntry | undefined): string[] {
  const peers = new Set<string>();
  for (const service of entry?.Services ?? []) {
    for (const consumer of service.Consumers) {
      if (isSet(consumer.Peer)) peers.add(consumer.Peer);
    }
  }
  return [...peers];
}

/**
 * The peers `entry` exports `service` to, by name or by `*` (never `consul` by `*`), sorted. Named
 * peers count whether or not a peering with them exists yet, as in Consul; namespaces, partitions and
 * sameness groups are not resolved.
 */
export function peersExportedTo(entry: ExportedServicesEntry | undefined, service: string): string[] {
  const peers = new Set<string>();
  for (const exported of entry?.Services ?? []) {
    const matches =
      exported.Name === service || (exported.Name === WILDCARD && !NEVER_WILDCARD_EXPORTED.has(service));
    if (!matches) continue;
    for (const consumer of exported.Consumers) {
      if (isSet(consumer.Peer)) peers.add(consumer.Peer);
    }
  }
  return [...peers].sort();
}
