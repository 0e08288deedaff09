// The peering wire protocol as the rest of the code sees it: the generated service, its typed client and
// server shapes, and the resource URLs carried in Request/Response.resource_url.
import { PeeringService } from '../gen/meshpeer/peering/v1/peering_pb.js';
import type { ServiceImplementation, TypedClient } from './grpc-service.js';

export { PeeringService };

/** Resource types replicated over StreamResources; payloads are JSON documents validated with zod. */
export const ResourceUrl = {
  ExportedService: 'type.meshpeer.io/ExportedService',
  PeeringTrustBundle: 'type.meshpeer.io/PeeringTrustBundle',
  ServerAddresses: 'type.meshpeer.io/ServerAddresses',
} as const;

export type ResourceUrl = (typeof ResourceUrl)[keyof typeof ResourceUrl];

const RESOURCE_URLS: ReadonlySet<string> = new Set(Object.values(ResourceUrl));

export function isResourceUrl(value: string): value is ResourceUrl {
  return RESOURCE_URLS.has(value);
}

export type PeeringServiceClient = TypedClient<typeof PeeringService>;
export type PeeringServiceImplementation = ServiceImplementation<typeof PeeringService>;
