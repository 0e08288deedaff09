// Consul's flattened CatalogService shape (GET /v1/catalog/service/:name and /v1/catalog/connect/:name):
// how the HTTP API presents one instance; the catalog itself keeps nodes and services apart.
import type { CatalogNode, ServiceInstance } from '../catalog/types.js';

/** One instance: its node's fields, then the service's with a `Service` prefix. */
export function flatServiceNode(
  Node: CatalogNode,
  Service: ServiceInstance & { CreateIndex?: number; ModifyIndex?: number },
): Record<string, unknown> {
  return {
    ID: Node.ID,
    Node: Node.Node,
    Address: Node.Address,
    Datacenter: Node.Datacenter,
    TaggedAddresses: Node.TaggedAddresses,
    NodeMeta: Node.Meta,
    ServiceKind: Service.Kind,
    ServiceID: Service.ID,
    ServiceName: Service.Service,
    ServiceTags: Service.Tags,
    ServiceAddress: Service.Address,
    ServiceTaggedAddresses: Service.TaggedAddresses,
    ServiceWeights: Service.Weights,
    ServiceMeta: Service.Meta,
    ServicePort: Service.Port,
    ServiceEnableTagOverride: Service.EnableTagOverride,
    ServiceProxy: Service.Proxy ?? {},
    ServiceConnect: Service.Connect ?? {},
    ...(Service.Locality !== undefined ? { ServiceLocality: Service.Locality } : {}),
    ...(Service.PeerName ? { PeerName: Service.PeerName } : {}),
    CreateIndex: Service.CreateIndex ?? 0,
    ModifyIndex: Service.ModifyIndex ?? 0,
  };
}
