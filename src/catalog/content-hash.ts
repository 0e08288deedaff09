// The ContentHash of a service on the agent's /v1/agent/service/:id, as Consul computes it: the hash
// (go-struct-hash.ts) of the answer as Consul's Go client type AgentService (consul/api v1.34.5) before
// ContentHash is filled in, printed as Go's %x. Consul hashes the agent's local copy of the service,
// which carries no raft indexes, and leaves out Namespace, Partition, Datacenter and Locality; Proxy is
// there for proxies and gateways only, Connect only for native services (as {Native: true}).
// `?hash=` on that endpoint blocks until this value changes.
import {
  fnv1_64,
  GoHashTypeError,
  type GoType,
  goAny,
  goBool,
  goHex,
  goInt,
  goMap,
  goPointer,
  goSlice,
  goString,
  goStruct,
  goUint64,
  hashGoValue,
} from './go-struct-hash.js';
import type { ServiceInstance } from './types.js';

const meshGatewayConfig = goStruct('MeshGatewayConfig', [{ name: 'Mode', type: goString }]);

const servicePorts = goSlice(
  goStruct('ServicePort', [
    { name: 'Name', type: goString },
    { name: 'Port', type: goInt },
    { name: 'Default', type: goBool },
  ]),
);

const upstream = goStruct('Upstream', [
  { name: 'DestinationType', type: goString },
  { name: 'DestinationPartition', type: goString },
  { name: 'DestinationNamespace', type: goString },
  { name: 'DestinationPeer', type: goString },
  { name: 'DestinationName', type: goString },
  { name: 'DestinationPort', type: goString },
  { name: 'Datacenter', type: goString },
  { name: 'LocalBindAddress', type: goString },
  { name: 'LocalBindPort', type: goInt },
  { name: 'LocalBindSocketPath', type: goString },
  { name: 'LocalBindSocketMode', type: goString },
  { name: 'Config', type: goMap(goString, goAny) },
  { name: 'MeshGateway', type: meshGatewayConfig },
  { name: 'CentrallyConfigured', type: goBool },
]);

/** consul/api AgentServiceConnectProxyConfig. */
const proxyConfig = goStruct('AgentServiceConnectProxyConfig', [
  {
    name: 'EnvoyExtensions',
    type: goSlice(
      goStruct('EnvoyExtension', [
        { name: 'Name', type: goString },
        { name: 'Required', type: goBool },
        { name: 'Arguments', type: goMap(goString, goAny) },
        { name: 'ConsulVersion', type: goString },
        { name: 'EnvoyVersion', type: goString },
      ]),
    ),
  },
  { name: 'DestinationServiceName', type: goString },
  { name: 'DestinationServiceID', type: goString },
  { name: 'LocalServiceAddress', type: goString },
  { name: 'LocalServicePort', type: goInt },
  { name: 'LocalServicePorts', type: servicePorts },
  { name: 'LocalServiceSocketPath', type: goString },
  { name: 'Mode', type: goString },
  {
    name: 'TransparentProxy',
    type: goPointer(
      goStruct('TransparentProxyConfig', [
        { name: 'OutboundListenerPort', type: goInt },
        { name: 'DialedDirectly', type: goBool },
      ]),
    ),
  },
  { name: 'Config', type: goMap(goString, goAny) },
  { name: 'Upstreams', type: goSlice(upstream) },
  { name: 'MeshGateway', type: meshGatewayConfig },
  {
    name: 'Expose',
    type: goStruct('ExposeConfig', [
      { name: 'Checks', type: goBool },
      {
        name: 'Paths',
        type: goSlice(
          goStruct('ExposePath', [
            { name: 'ListenerPort', type: goInt },
            { name: 'Path', type: goString },
            { name: 'LocalPathPort', type: goInt },
            { name: 'Protocol', type: goString },
            { name: 'ParsedFromCheck', type: goBool },
          ]),
        ),
      },
    ]),
  },
  {
    name: 'AccessLogs',
    type: goPointer(
      goStruct('AccessLogsConfig', [
        { name: 'Enabled', type: goBool },
        { name: 'DisableListenerLogs', type: goBool },
        { name: 'Type', type: goString },
        { name: 'Path', type: goString },
        { name: 'JSONFormat', type: goString },
        { name: 'TextFormat', type: goString },
      ]),
    ),
  },
]);

/**
 * consul/api AgentService. `AI` (an AI-role block meshpeer does not have) is always nil here, so its
 * fields do not matter; only its name and nil-ness enter the hash.
 */
export const agentServiceType: GoType = goStruct('AgentService', [
  { name: 'Kind', type: goString },
  { name: 'ID', type: goString },
  { name: 'Service', type: goString },
  { name: 'Tags', type: goSlice(goString) },
  { name: 'Meta', type: goMap(goString, goString) },
  { name: 'Port', type: goInt },
  { name: 'Ports', type: servicePorts },
  { name: 'Address', type: goString },
  { name: 'SocketPath', type: goString },
  {
    name: 'TaggedAddresses',
    type: goMap(
      goString,
      goStruct('ServiceAddress', [
        { name: 'Address', type: goString },
        { name: 'Port', type: goInt },
      ]),
    ),
  },
  {
    name: 'Weights',
    type: goStruct('AgentWeights', [
      { name: 'Passing', type: goInt },
      { name: 'Warning', type: goInt },
    ]),
  },
  { name: 'EnableTagOverride', type: goBool },
  { name: 'CreateIndex', type: goUint64 },
  { name: 'ModifyIndex', type: goUint64 },
  { name: 'ContentHash', type: goString },
  { name: 'Proxy', type: goPointer(proxyConfig) },
  {
    name: 'Connect',
    type: goPointer(
      goStruct('AgentServiceConnect', [
        { name: 'Native', type: goBool },
        // Never in an answer (a registration's sidecar is expanded into its own service): always nil.
        { name: 'SidecarService', type: goPointer(goStruct('AgentServiceRegistration', [])) },
      ]),
    ),
  },
  { name: 'PeerName', type: goString },
  { name: 'AI', type: goPointer(goStruct('AgentServiceAI', [])) },
  { name: 'Namespace', type: goString, ignore: true },
  { name: 'Partition', type: goString, ignore: true },
  { name: 'Datacenter', type: goString, ignore: true },
  { name: 'Locality', type: goPointer(goStruct('Locality', [])), ignore: true },
]);

/** Kinds whose agent answer carries Proxy (Consul: connect proxies and gateways). */
const PROXY_KINDS = new Set([
  'connect-proxy',
  'mesh-gateway',
  'terminating-gateway',
  'ingress-gateway',
  'api-gateway',
]);

/** The agent's answer for a service, as the Go value Consul hashes (no indexes, no ContentHash yet). */
export function hashedAgentService(s: ServiceInstance): Record<string, unknown> {
  return {
    Kind: s.Kind,
    ID: s.ID,
    Service: s.Service,
    Tags: s.Tags,
    Meta: s.Meta,
    Port: s.Port,
    Address: s.Address,
    TaggedAddresses: s.TaggedAddresses,
    Weights: s.Weights,
    EnableTagOverride: s.EnableTagOverride,
    Proxy: PROXY_KINDS.has(s.Kind) ? (s.Proxy ?? {}) : undefined,
    Connect: s.Connect?.Native === true ? { Native: true } : undefined,
    PeerName: s.PeerName ?? '',
  };
}

/**
 * Consul's ContentHash of a service on the agent. A stored proxy definition that Consul's types could not
 * hold (meshpeer keeps proxy definitions as given) still gets a hash that follows its content: FNV-1 of
 * its JSON, which is not Consul's number, but changes exactly when the answer does.
 */
export function agentServiceContentHash(s: ServiceInstance): string {
  const value = hashedAgentService(s);
  try {
    return goHex(hashGoValue(agentServiceType, value));
  } catch (err) {
    if (!(err instanceof GoHashTypeError)) throw err;
    return goHex(fnv1_64(new TextEncoder().encode(JSON.stringify(value))));
  }
}
