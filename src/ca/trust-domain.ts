import { randomUUID } from 'node:crypto';
import { invalid } from '../shared/errors.js';

// SPIFFE trust domains are lowercase DNS-like labels; we keep to that subset so a trust domain can
// also be embedded in TLS server names (peeringServerName) without escaping.
const TRUST_DOMAIN = /^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/;

/** A fresh cluster trust domain, `<uuid>.consul` as Consul generates them. */
export function newTrustDomain(): string {
  return `${randomUUID()}.consul`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The trust domain of a cluster ID (Consul's connect.ca_config.cluster_id): `<cluster-id>.consul`.
 * Like Consul, the ID must be a UUID.
 */
export function trustDomainOfClusterId(clusterId: string): string {
  if (!UUID.test(clusterId)) throw invalid(`cluster ID "${clusterId}" is not valid: it must be a UUID`);
  return `${clusterId.toLowerCase()}.consul`;
}

export function assertTrustDomain(trustDomain: string): string {
  if (trustDomain.length === 0 || trustDomain.length > 255 || !TRUST_DOMAIN.test(trustDomain)) {
    throw invalid(
      `trust domain "${trustDomain}" is not valid: use lowercase letters, digits, '.', '-' or '_' (e.g. <uuid>.consul)`,
    );
  }
  return trustDomain;
}

/**
 * The TLS server name a peer uses to verify our gRPC/HTTPS server, the `ServerName` of a peering
 * token. It is tied to the trust domain so a certificate for one cluster can never pass for another.
 */
export function peeringServerName(datacenter: string, trustDomain: string): string {
  return `server.${assertDatacenter(datacenter)}.peering.${assertTrustDomain(trustDomain)}`;
}

// Datacenter names end up both in SPIFFE paths and in DNS names, so they must be valid in both.
const DATACENTER = /^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$/i;

export function assertDatacenter(datacenter: string): string {
  if (datacenter.length > 63 || !DATACENTER.test(datacenter)) {
    throw invalid(`datacenter "${datacenter}" is not valid: use letters, digits, '-' or '_' (e.g. dc1)`);
  }
  return datacenter;
}
