// What the HTTP API needs from the server: the domains, and facts about this server.
import type { AclService } from '../acl/acl-service.js';
import type { Catalog } from '../catalog/catalog.js';
import type { ConfigEntries } from '../config-entries/config-store.js';
import type { Leadership } from '../leadership/leadership.js';
import type { ServerMetrics } from '../observability/metrics.js';
import type { Logger } from '../shared/logger.js';
import type { Store } from '../store/store.js';
import type { HttpLimits } from './app.js';

export interface ApiDeps {
  store: Store;
  catalog: Catalog;
  config: ConfigEntries;
  metrics: ServerMetrics;
  logger: Logger;
  datacenter: string;
  /** The node this server registers agent services on. */
  node: { Node: string; Address: string };
  version: string;
  /** Policies and tokens; undefined when ACLs are off (then nothing is checked). */
  acl?: AclService;
  /**
   * Who leads this server's cluster (X-Consul-KnownLeader, X-Consul-LastContact, /v1/status/*);
   * undefined: this server alone, always the leader.
   */
  cluster?: Pick<Leadership, 'knownLeader' | 'lastContactMs' | 'leader' | 'servers'>;
  /** Header/request timeouts and the connection cap (defaults: DEFAULT_HTTP_LIMITS). */
  httpLimits?: Partial<HttpLimits>;
}
