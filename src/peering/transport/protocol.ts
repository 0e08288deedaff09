// The peering wire protocol as the rest of the code sees it: the generated service, its typed client and
// server shapes, and the resource URLs carried in Request/Response.resource_url.
import { PeeringService } from '../gen/meshpeer/peering/v1/peering_pb.js';
import { isResourceType, type ResourceType, ResourceTypes } from '../payloads.js';
import type { ServiceImplementation, TypedClient } from './grpc-service.js';

export { PeeringService };

/**
 * Resource types replicated over StreamResources. One set, kept with the schemas of their JSON payloads
 * in payloads.ts; these names are what the transport's users and tests know them by.
 */
export const ResourceUrl = ResourceTypes;
export type ResourceUrl = ResourceType;
export const isResourceUrl = isResourceType;

export type PeeringServiceClient = TypedClient<typeof PeeringService>;
export type PeeringServiceImplementation = ServiceImplementation<typeof PeeringService>;
