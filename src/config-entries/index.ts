// The config-entries domain: schemas, defaults and validation for each kind, file decoding, and the
// queries other domains ask of entries. Pure: no storage, no HTTP.
export { decodeConfigEntryText } from './decode-file.js';
export { parseGoDuration } from './duration.js';
export {
  consumerPeers,
  EXPORTED_SERVICES_KIND,
  EXPORTED_SERVICES_NAME,
  type ExportedService,
  type ExportedServiceConsumer,
  type ExportedServicesEntry,
  exportedServicesFor,
  exportedServicesSchema,
  peersExportedTo,
} from './exported-services.js';
export {
  MESH_KIND,
  MESH_NAME,
  type MeshEntry,
  type MeshTLSDirection,
  meshSchema,
  peerThroughMeshGateways,
  type TLSVersion,
} from './mesh.js';
export {
  assertModeAllowsPeering,
  MESH_GATEWAY_MODES,
  type MeshGatewayConfig,
  type MeshGatewayMode,
  type PeeredMeshGatewayMode,
} from './mesh-gateway-mode.js';
export { isValidPeerName, peerNameProblem, WILDCARD } from './names.js';
export {
  PROXY_DEFAULTS_KIND,
  PROXY_DEFAULTS_NAME,
  type ProxyDefaultsEntry,
  proxyDefaultsSchema,
  proxyDefaultsWarnings,
} from './proxy-defaults.js';
export {
  CONFIG_ENTRY_KINDS,
  type ConfigEntry,
  type ConfigEntryKind,
  type ConfigEntryOf,
  configEntryKey,
  configEntryWarnings,
  isConfigEntryKind,
  normalizeConfigEntryShape,
  parseConfigEntry,
  parseConfigEntryKind,
  parseConfigEntryOfKind,
} from './registry.js';
export {
  type IntentionAction,
  type IntentionPermission,
  type IntentionSource,
  intentionPrecedence,
  SERVICE_INTENTIONS_KIND,
  type ServiceIntentionsEntry,
  serviceIntentionsSchema,
} from './service-intentions.js';
export {
  resolverPeers,
  SERVICE_RESOLVER_KIND,
  type ServiceResolverEntry,
  type ServiceResolverFailover,
  type ServiceResolverFailoverTarget,
  type ServiceResolverRedirect,
  type ServiceResolverSubset,
  serviceResolverSchema,
} from './service-resolver.js';
