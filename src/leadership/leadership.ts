// Which server of a cluster leads: the one that owns the peering streams (both the acceptor side and the
// dialer loops) and other leader-only work. A cluster with one server (SQLite, memory) always leads; a
// cluster of servers sharing etcd elects one (etcd-leadership.ts). Domain code sees only this interface.

/** One server of the cluster, as the others and the cluster's peers reach it. */
export interface ServerIdentity {
  /** Unique per server process (its node name plus a random suffix). */
  readonly id: string;
  /** The node name the server registered in the catalog. */
  readonly node: string;
  /** host:port of its HTTP API. */
  readonly httpAddress: string;
  /** host:port addresses peers dial for its gRPC (peering) port. */
  readonly grpcAddresses: readonly string[];
}

export interface Leadership {
  readonly self: ServerIdentity;
  /** True when other servers may share this one's store (what the leader does, they must see). */
  readonly shared: boolean;
  /** True while this server is the leader (it holds the election and its lease is alive). */
  isLeader(): boolean;
  /** The current leader, when one is known. */
  leader(): ServerIdentity | undefined;
  /** Every live server of the cluster, this one included, ordered by id. */
  servers(): ServerIdentity[];
  /** False while this server cannot tell who leads: no contact with the store's cluster, or no leader. */
  knownLeader(): boolean;
  /** Milliseconds since this server last heard from the store's cluster (0 for a single server). */
  lastContactMs(): number;
  /** Called after any change of leader, of isLeader() or of the server list. */
  onChange(listener: () => void): () => void;
  stop(): Promise<void>;
}

/** The leadership of a cluster of one server: it always leads. */
export function soleServer(self: ServerIdentity): Leadership {
  return {
    self,
    shared: false,
    isLeader: () => true,
    leader: () => self,
    servers: () => [self],
    knownLeader: () => true,
    lastContactMs: () => 0,
    onChange: () => () => undefined,
    stop: async () => undefined,
  };
}
