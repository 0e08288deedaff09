// The JSON documents carried in Response.resource, one schema per resource type. The proto only frames;
// everything a peer sends is validated here before it touches the store.
import { z } from 'zod';

export const ResourceTypes = {
  ExportedService: 'type.meshpeer.io/ExportedService',
  ExportedServiceList: 'type.meshpeer.io/ExportedServiceList',
  PeeringTrustBundle: 'type.meshpeer.io/PeeringTrustBundle',
  ServerAddresses: 'type.meshpeer.io/ServerAddresses',
} as const;
export type ResourceType = (typeof ResourceTypes)[keyof typeof ResourceTypes];
const KNOWN: ReadonlySet<string> = new Set(Object.values(ResourceTypes));
export const isResourceType = (url: string): url is ResourceType => KNOWN.has(url);

const strMap = z.record(z.string(), z.string());
const status = z.enum(['passing', 'warning', 'critical', 'maintenance']);

export const exportedInstanceSchema = z.object({
  Node: z.object({ Node: z.string().min(1).max(256), Address: z.string(), Meta: strMap.default({}) }),
  Service: z.object({
    ID: z.string().min(1).max(256),
    Service: z.string().min(1).max(256),
    Kind: z.string().default(''),
    Tags: z.array(z.string()).default([]),
    Address: z.string(),
    Port: z.number().int().min(0).max(65535),
    Meta: strMap.default({}),
    Proxy: z.record(z.string(), z.unknown()).optional(),
  }),
  Checks: z
    .array(
      z.object({
        CheckID: z.string().min(1),
        Name: z.string(),
        Status: status,
        Output: z.string().default(''),
        /** '' for a node-level check (it applies to every service on the node); absent: the service's own. */
        ServiceID: z.string().optional(),
      }),
    )
    .default([]),
});
export type ExportedInstance = z.infer<typeof exportedInstanceSchema>;

export const exportedServiceSchema = z.object({
  Name: z.string().min(1).max(256),
  Instances: z.array(exportedInstanceSchema).max(100_000),
});
export type ExportedServicePayload = z.infer<typeof exportedServiceSchema>;

/**
 * Every service the sender exports to us now. With Digests (name → digest of the service's JSON as
 * last sent) it is also a checkpoint: the receiver compares what it applied before this message.
 */
export const exportedServiceListSchema = z.object({
  Names: z.array(z.string().min(1)).max(100_000),
  Digests: z.record(z.string(), z.string()).optional(),
});

/** Error codes of a NACK (gRPC status numbers, as Consul's peering stream uses). */
export enum NackCode {
  /** The resource is malformed or cannot be applied; sending it again will not help. */
  Invalid = 3,
  /** The receiver's import differs from the sender's checkpoint: the sender must send everything again. */
  OutOfSync = 9,
}

export const trustBundleSchema = z.object({
  TrustDomain: z.string().min(1),
  RootPEMs: z.array(z.string().min(1)).min(1),
});

export const serverAddressesSchema = z.object({ Addresses: z.array(z.string().min(1)).max(64) });
