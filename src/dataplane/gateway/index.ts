// The mesh gateway: SNI routing between peers, its configuration and its metrics; in this process
// (MeshGateway) or driving HAProxy (HaproxyGateway) or nginx (NginxGateway).
export type { GatewayConfig, GatewayPeer } from './config.js';
export { HaproxyGateway, type HaproxyGatewayOptions } from './haproxy-gateway.js';
export { MeshGateway, type MeshGatewayOptions } from './mesh-gateway.js';
export { GatewayMetrics } from './metrics.js';
export { NginxGateway, type NginxGatewayOptions } from './nginx-gateway.js';
export { type RefusalReason, type Route, type RouteKind, routeFor } from './routes.js';
