// The data plane's configuration sources over the meshpeer server's Consul-compatible HTTP API,
// kept current with blocking queries. The pieces live in http/.
export { type ApiResponse, ConsulApi, type ConsulApiOptions } from './http/consul-api.js';
export { HttpGatewayConfigSource, type HttpGatewayConfigSourceOptions } from './http/gateway-source.js';
export {
  HttpProxyConfigSource,
  type HttpProxyConfigSourceOptions,
  SNI_META_KEY,
} from './http/proxy-source.js';
export { deregister, type Registration, register, registrationBody } from './http/registration.js';
export type { WatchSetOptions } from './http/watch-set.js';
