// The SNI names a workload leaf carries as DNS SANs: the names callers send to reach the service, so
// proxies that check a server only by DNS name against the SNI they sent (HAProxy, nginx) accept it.
// Checked against one trust domain's roots, such a name proves "service S of trust domain T, reachable
// by peer P", because the CA only ever puts a service's own names in its leaf (see sniNamesProblem).
import { isSniLabel, localServiceSni, parseSni, peeredServiceSni } from './sni.js';

export interface WorkloadSniInput {
  service: string;
  namespace?: string;
  partition?: string;
  datacenter: string;
  trustDomain: string;
  /** The peers the service is exported to, as this cluster names them. */
  exportedToPeers?: readonly string[];
}

/**
 * The local SNI name plus one peered name per peer, sorted and without repeats. A peer whose name
 * cannot be a DNS label is skipped (no caller can reach the service by such a name); a service whose
 * name cannot be one has no SNI names at all.
 */
export function workloadSniNames(input: WorkloadSniInput): string[] {
  if (!isSniLabel(input.service)) return [];
  const names = new Set([
    localServiceSni({
      service: input.service,
      namespace: input.namespace,
      datacenter: input.datacenter,
      trustDomain: input.trustDomain,
    }),
  ]);
  for (const peer of input.exportedToPeers ?? []) {
    if (!isSniLabel(peer)) continue;
    names.add(
      peeredServiceSni({
        service: input.service,
        namespace: input.namespace,
        partition: input.partition,
        peer,
        trustDomain: input.trustDomain,
      }),
    );
  }
  return [...names].sort();
}

/**
 * Why `name` must not go into the leaf of `service` in `trustDomain`, or undefined when it may: only
 * the service's own local or peered names, in the CA's own trust domain, are ever signed.
 */
export function sniNameProblem(
  name: string,
  owner: { service: string; namespace?: string; datacenter: string; trustDomain: string },
): string | undefined {
  const parsed = parseSni(name);
  if (parsed === undefined || parsed.kind === 'peering-server')
    return `"${name}" is not a service SNI name (<service>.<namespace>.<dc>.internal.<trust-domain> or <service>.<namespace>.<partition>.<peer>.external.<trust-domain>)`;
  const namespace = (owner.namespace ?? 'default').toLowerCase();
  if (
    parsed.service !== owner.service.toLowerCase() ||
    parsed.namespace !== namespace ||
    parsed.trustDomain !== owner.trustDomain.toLowerCase() ||
    (parsed.kind === 'local' && parsed.datacenter !== owner.datacenter.toLowerCase())
  )
    return `"${name}" names another service, datacenter or trust domain than ${namespace}/${owner.service} of ${owner.datacenter} in ${owner.trustDomain}`;
  return undefined;
}
