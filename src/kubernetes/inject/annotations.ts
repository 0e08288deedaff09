// The consul-k8s pod annotations the injector and the endpoints controller read, and their parsers:
// each parser returns a value or a sentence saying what is wrong with the annotation.
import { peerNameProblem } from '../../config-entries/names.js';

export const ANNOTATION_INJECT = 'consul.hashicorp.com/connect-inject';
export const ANNOTATION_SERVICE = 'consul.hashicorp.com/connect-service';
export const ANNOTATION_SERVICE_PORT = 'consul.hashicorp.com/connect-service-port';
export const ANNOTATION_UPSTREAMS = 'consul.hashicorp.com/connect-service-upstreams';
export const ANNOTATION_INJECT_STATUS = 'consul.hashicorp.com/connect-inject-status';
export const ANNOTATION_TRANSPARENT_PROXY = 'consul.hashicorp.com/transparent-proxy';
/** Per-pod overrides of the sidecar's resources (consul-k8s's names). */
export const ANNOTATION_SIDECAR_RESOURCES = {
  cpuRequest: 'consul.hashicorp.com/sidecar-proxy-cpu-request',
  cpuLimit: 'consul.hashicorp.com/sidecar-proxy-cpu-limit',
  memoryRequest: 'consul.hashicorp.com/sidecar-proxy-memory-request',
  memoryLimit: 'consul.hashicorp.com/sidecar-proxy-memory-limit',
} as const;
/** Label and annotation value of an injected pod; the endpoints controller watches pods by this label. */
export const LABEL_INJECT_STATUS = 'consul.hashicorp.com/connect-inject-status';
export const INJECTED = 'injected';

export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };
const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const problem = <T>(text: string): Parsed<T> => ({ ok: false, problem: text });

/** Go's strconv.ParseBool, which consul-k8s uses for its boolean annotations. */
export function parseBool(annotation: string, raw: string): Parsed<boolean> {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(raw)) return ok(true);
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(raw)) return ok(false);
  return problem(`annotation ${annotation} must be "true" or "false", got ${JSON.stringify(raw)}`);
}

// A Consul service name as consul-k8s accepts it from a pod: a DNS-1123 label.
const SERVICE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function serviceNameProblem(annotation: string, name: string): string | undefined {
  if (SERVICE_NAME.test(name)) return undefined;
  if (name.includes(','))
    return `annotation ${annotation}: one service per pod is supported, got ${JSON.stringify(name)}`;
  return (
    `annotation ${annotation}: ${JSON.stringify(name)} is not a service name (1 to 63 lowercase letters, ` +
    'digits and hyphens, starting and ending with a letter or digit)'
  );
}

export function parsePortNumber(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : undefined;
}

/** One upstream of `connect-service-upstreams`: a local service, or one imported from a peer. */
export interface Upstream {
  service: string;
  peer?: string;
  /** The localhost port the app dials. */
  port: number;
}

/**
 * `connect-service-upstreams`: comma-separated `backend:1234` (a local service) or the labeled form
 * `backend.svc.cluster-01.peer:1234` (imported from peer cluster-01). Namespaces, partitions and
 * datacenters (Consul Enterprise, WAN federation) are refused with the reason; so are two upstreams on
 * one port.
 */
export function parseUpstreams(raw: string): Parsed<Upstream[]> {
  const out: Upstream[] = [];
  const ports = new Map<number, string>();
  for (const item of raw.split(',')) {
    const text = item.trim();
    if (text === '') continue;
    const one = parseUpstream(text);
    if (!one.ok) return one;
    const clash = ports.get(one.value.port);
    if (clash)
      return problem(
        `annotation ${ANNOTATION_UPSTREAMS}: "${clash}" and "${text}" both use local port ${one.value.port}`,
      );
    ports.set(one.value.port, text);
    out.push(one.value);
  }
  return ok(out);
}

function parseUpstream(text: string): Parsed<Upstream> {
  const where = `annotation ${ANNOTATION_UPSTREAMS}: "${text}"`;
  const parts = text.split(':');
  if (parts.length === 3)
    return problem(
      `${where}: a datacenter (the third field) needs WAN federation, which meshpeer does not build`,
    );
  if (parts.length !== 2) return problem(`${where} must be SERVICE:PORT or SERVICE.svc.PEER.peer:PORT`);
  const [target = '', portText = ''] = parts;
  const port = parsePortNumber(portText);
  if (port === undefined) return problem(`${where}: ${JSON.stringify(portText)} is not a port (1-65535)`);
  const labels = target.split('.');
  if (labels.length === 1) {
    const bad = serviceNameProblem(ANNOTATION_UPSTREAMS, target);
    return bad ? problem(`${where}: ${bad.replace(/^annotation \S+: /, '')}`) : ok({ service: target, port });
  }
  if (labels.length % 2 !== 0 || labels[1] !== 'svc') {
    if (labels.length <= 3)
      return problem(
        `${where}: namespaces and partitions are Consul Enterprise features; name the service alone`,
      );
    return problem(`${where}: the labeled form is SERVICE.svc[.PEER.peer]:PORT`);
  }
  const upstream: Upstream = { service: labels[0] ?? '', port };
  const bad = serviceNameProblem(ANNOTATION_UPSTREAMS, upstream.service);
  if (bad) return problem(`${where}: ${bad.replace(/^annotation \S+: /, '')}`);
  for (let i = 2; i < labels.length; i += 2) {
    const value = labels[i] ?? '';
    const label = labels[i + 1];
    if (label === 'peer') {
      const peerProblem = peerNameProblem(value);
      if (peerProblem) return problem(`${where}: ${peerProblem}`);
      upstream.peer = value;
    } else if ((label === 'ns' || label === 'ap') && value === 'default') {
      // The default namespace and partition are what OSS Consul has anyway.
    } else if (label === 'ns' || label === 'ap') {
      return problem(`${where}: namespaces and partitions are Consul Enterprise features (only "default")`);
    } else if (label === 'dc') {
      return problem(
        `${where}: a datacenter needs WAN federation, which meshpeer does not build; use a peer`,
      );
    } else {
      return problem(`${where}: unknown label ".${label}" (expected .peer)`);
    }
  }
  return ok(upstream);
}

// A Kubernetes resource quantity (e.g. 100m, 64Mi, 1.5, 2G).
const QUANTITY = /^[+]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;

export function quantityProblem(what: string, value: string): string | undefined {
  return QUANTITY.test(value)
    ? undefined
    : `${what}: ${JSON.stringify(value)} is not a Kubernetes quantity (such as 100m or 64Mi)`;
}
