// The sidecar proxy: mTLS inbound with intentions, upstream listeners for local and peered services.
export type {
  ProxyConfig,
  ProxyConfigSource,
  ProxyLeaf,
  UpstreamInstances,
  UpstreamSpec,
} from './config.js';
export { upstreamLabel } from './config.js';
export { authorize, type IntentionDecision } from './intentions.js';
export { ProxyMetrics } from './metrics.js';
export { type ResolvedUpstream, resolveUpstream, type UpstreamTarget } from './resolver-targets.js';
export { Sidecar, type SidecarAddresses, type SidecarOptions } from './sidecar.js';
export { planUpstream, routeUpstream, type UpstreamPlan, type UpstreamRoute } from './upstream-plan.js';
export { parseUpstreamSpec } from './upstream-spec.js';
