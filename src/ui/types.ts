// The API shapes the UI reads (the fields it uses of Consul's JSON).

export interface Peering {
  ID: string;
  Name: string;
  State: string;
  Role?: 'acceptor' | 'dialer';
  Reason?: string;
  PeerServerName: string;
  PeerServerAddresses: string[] | null;
  Remote: { Datacenter: string; Partition: string };
  StreamStatus?: {
    ImportedServices: string[] | null;
    ExportedServices: string[] | null;
    LastHeartbeat?: string;
    LastReceive?: string;
    LastSend?: string;
    LastError?: string;
    Warnings?: string[] | null;
  };
}

export interface HealthCheck {
  Node: string;
  CheckID: string;
  Name: string;
  Status: 'passing' | 'warning' | 'critical' | string;
  Output?: string;
  ServiceID: string;
  ServiceName: string;
  PeerName?: string;
}

/** /v1/catalog/services: service name to its tags. */
export type ServiceTags = Record<string, string[]>;
