// The DNS name a workload leaf carries beside its SPIFFE ID: <service>.svc.<namespace>.<trust-domain>.
// Identity is the SPIFFE ID; this name restates it in the one form that proxies which check a server's
// certificate only by DNS name (HAProxy's verifyhost, nginx's proxy_ssl_name) can compare, so such a
// proxy can check that exactly the expected workload answered. It is only as good as the roots it is
// checked against: a proxy must trust only the expected trust domain's roots when it compares it.

// One DNS label, lowercase: the same rule the SNI names follow.
const LABEL = /^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$/;
const TRUST_DOMAIN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * The host name of a workload's leaf, or undefined when a part cannot be a DNS label (such a leaf
 * carries its SPIFFE ID only). Lowercase: DNS names compare without case.
 */
export function workloadHostName(id: {
  service: string;
  namespace?: string;
  trustDomain: string;
}): string | undefined {
  const service = id.service.toLowerCase();
  const namespace = (id.namespace || 'default').toLowerCase();
  const trustDomain = id.trustDomain.toLowerCase();
  if (!LABEL.test(service) || !LABEL.test(namespace) || !TRUST_DOMAIN.test(trustDomain)) return undefined;
  const name = `${service}.svc.${namespace}.${trustDomain}`;
  return name.length <= 253 ? name : undefined;
}
