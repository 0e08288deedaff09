// The catalog's records, in Consul's JSON shape (PascalCase), as stored and as served.
export type CheckStatus = 'passing' | 'warning' | 'critical' | 'maintenance';

export interface CatalogNode {
  ID: string;
  Node: string;
  Address: string;
  Datacenter: string;
  TaggedAddresses: Record<string, string>;
  Meta: Record<string, string>;
  PeerName?: string;
}

export interface ServiceInstance {
  ID: string;
  Service: string;
  Kind: string;
  Tags: string[];
  Address: string;
  TaggedAddresses: Record<string, { Address: string; Port: number }>;
  Meta: Record<string, string>;
  Port: number;
  Weights: { Passing: number; Warning: number };
  EnableTagOverride: boolean;
  Proxy?: Record<string, unknown>;
  Connect?: Record<string, unknown>;
  Namespace?: string;
  Locality?: { Region?: string; Zone?: string };
  PeerName?: string;
}

export interface HealthCheck {
  Node: string;
  CheckID: string;
  Name: string;
  Status: CheckStatus;
  Notes: string;
  Output: string;
  ServiceID: string;
  ServiceName: string;
  ServiceTags: string[];
  Type: string;
  PeerName?: string;
}

/** A node's service with its stamps, as read from the store. */
export interface Stamped<T> {
  value: T;
  createIndex: number;
  modifyIndex: number;
}

/** One entry of GET /v1/health/service/:name. */
export interface ServiceHealth {
  Node: CatalogNode & { CreateIndex: number; ModifyIndex: number };
  Service: ServiceInstance & { CreateIndex: number; ModifyIndex: number };
  Checks: Array<HealthCheck & { CreateIndex: number; ModifyIndex: number }>;
}
