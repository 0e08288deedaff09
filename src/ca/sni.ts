// SNI names in Consul's scheme, which say where a mesh connection is headed:
//   peered: <service>.<namespace>.<partition>.<peer>.external.<trust-domain>
//     (<peer> is the consumer as the exporter names it; <trust-domain> is the exporter's)
//   local:  <service>.<namespace>.<datacenter>.internal.<trust-domain>
//   peering control plane: server.<datacenter>.peering.<trust-domain> (trust-domain.ts)
// Names, like SPIFFE IDs, are identity: the exporter puts them in the catalog, gateways route by them.
import { invalid } from '../shared/errors.js';

/** The service Meta key under which an imported instance carries the SNI name that reaches it. */
export const SNI_META_KEY = 'meshpeer-sni';

export interface PeeredServiceName {
  service: string;
  namespace: string;
  partition: string;
  /** The importing peer, as the exporting cluster names it. */
  peer: string;
  /** The exporting cluster's trust domain. */
  trustDomain: string;
}

export interface LocalServiceName {
  service: string;
  namespace: string;
  datacenter: string;
  trustDomain: string;
}

export type ParsedSni =
  | ({ kind: 'peered' } & PeeredServiceName)
  | ({ kind: 'local' } & LocalServiceName)
  | { kind: 'peering-server'; datacenter: string; trustDomain: string };

const DEFAULT = 'default';
// One DNS label: the pieces of a name must not contain dots, or the name would be ambiguous.
const LABEL = /^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$/;

/** Whether `value` can be one part of an SNI name (one DNS label, compared without case). */
export function isSniLabel(value: string): boolean {
  return LABEL.test(value.toLowerCase());
}

function label(what: string, value: string): string {
  const lower = value.toLowerCase();
  if (!LABEL.test(lower))
    throw invalid(`${what} "${value}" cannot be part of an SNI name: use one DNS label`);
  return lower;
}

export function peeredServiceSni(name: {
  service: string;
  namespace?: string;
  partition?: string;
  peer: string;
  trustDomain: string;
}): string {
  return [
    label('service', name.service),
    label('namespace', name.namespace ?? DEFAULT),
    label('partition', name.partition ?? DEFAULT),
    label('peer', name.peer),
    'external',
    name.trustDomain.toLowerCase(),
  ].join('.');
}

export function localServiceSni(name: {
  service: string;
  namespace?: string;
  datacenter: string;
  trustDomain: string;
}): string {
  return [
    label('service', name.service),
    label('namespace', name.namespace ?? DEFAULT),
    label('datacenter', name.datacenter),
    'internal',
    name.trustDomain.toLowerCase(),
  ].join('.');
}

/**
 * Splits an SNI name into its parts, or returns undefined for a name outside the scheme. The
 * trust domain is everything after the marker label, since trust domains contain dots themselves.
 */
export function parseSni(serverName: string): ParsedSni | undefined {
  const labels = serverName.toLowerCase().split('.');
  const trustDomainAfter = (at: number): string | undefined => {
    const rest = labels.slice(at + 1);
    return rest.length > 0 && rest.every((l) => l.length > 0) ? rest.join('.') : undefined;
  };
  if (labels[0] === 'server' && labels[2] === 'peering') {
    const trustDomain = trustDomainAfter(2);
    const datacenter = labels[1] ?? '';
    return trustDomain && LABEL.test(datacenter)
      ? { kind: 'peering-server', datacenter, trustDomain }
      : undefined;
  }
  const parts = labels.slice(0, 5);
  if (!parts.slice(0, labels[4] === 'external' ? 4 : 3).every((l) => LABEL.test(l))) return undefined;
  const [service = '', namespace = '', third = '', fourth = '', fifth = ''] = parts;
  if (fifth === 'external') {
    const trustDomain = trustDomainAfter(4);
    if (!trustDomain) return undefined;
    return { kind: 'peered', service, namespace, partition: third, peer: fourth, trustDomain };
  }
  if (fourth === 'internal') {
    const trustDomain = trustDomainAfter(3);
    if (!trustDomain) return undefined;
    return { kind: 'local', service, namespace, datacenter: third, trustDomain };
  }
  return undefined;
}
