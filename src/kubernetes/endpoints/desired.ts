// What the catalog should hold for the injected pods: for each pod that a Service selects and that has
// an IP and a node, a service instance and its `<service>-sidecar-proxy` instance, with a health check
// that follows the pod's Ready condition. Pure: the endpoints controller feeds it its caches.
import { ANNOTATION_UPSTREAMS, parseUpstreams } from '../inject/annotations.js';
import { isInjected, type PodShape, podService } from '../inject/decision.js';
import { SIDECAR_PUBLIC_PORT } from '../inject/sidecar.js';

export const MANAGED_BY = 'meshpeer-endpoints-controller';
export const META_MANAGED_BY = 'managed-by';
export const META_K8S_NAMESPACE = 'k8s-namespace';
export const META_K8S_SERVICE = 'k8s-service-name';
export const META_POD_NAME = 'pod-name';
export const CHECK_NAME = 'Kubernetes Readiness Check';

export interface ServiceShape {
  metadata?: { name?: string; namespace?: string };
  spec?: { selector?: Record<string, string> | null };
}

export interface SyncPod extends PodShape {
  metadata?: PodShape['metadata'] & { deletionTimestamp?: unknown };
  spec?: PodShape['spec'] & { nodeName?: string };
  status?: {
    phase?: string;
    podIP?: string;
    hostIP?: string;
    conditions?: { type: string; status: string }[] | null;
  };
}

export type CheckStatus = 'passing' | 'critical';

/** One PUT /v1/catalog/register body (a service with its check on the pod's node). */
export interface Registration {
  Node: string;
  Address: string;
  Service: {
    ID: string;
    Service: string;
    Kind?: 'connect-proxy';
    Address: string;
    Port: number;
    Meta: Record<string, string>;
    Proxy?: Record<string, unknown>;
  };
  Checks: {
    CheckID: string;
    Name: string;
    ServiceID: string;
    Status: CheckStatus;
    Output: string;
    Type: string;
  }[];
}

/** The parts of a registration that, when they differ from the catalog's, call for a write. */
export function fingerprint(r: {
  node: string;
  address: string;
  port: number;
  status: string;
  k8sService: string;
}): string {
  return `${r.node}|${r.address}|${r.port}|${r.status}|${r.k8sService}`;
}

export function fingerprintOf(r: Registration): string {
  return fingerprint({
    node: r.Node,
    address: r.Service.Address,
    port: r.Service.Port,
    status: r.Checks[0]?.Status ?? '',
    k8sService: r.Service.Meta[META_K8S_SERVICE] ?? '',
  });
}

function selects(service: ServiceShape, pod: SyncPod): boolean {
  const selector = service.spec?.selector;
  if (!selector || Object.keys(selector).length === 0) return false;
  const labels = pod.metadata?.labels ?? {};
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

export function podReady(pod: SyncPod): boolean {
  return (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/**
 * The registrations for `pods` as `services` select them, keyed by service ID. A pod selected by several
 * Services is registered once, for the first of them by name. Pods that are being deleted, have finished,
 * or have no IP or node yet are left out (so they leave the catalog).
 */
export function desiredRegistrations(
  services: readonly ServiceShape[],
  pods: readonly SyncPod[],
): Map<string, Registration> {
  const out = new Map<string, Registration>();
  const sorted = [...services].sort((a, b) =>
    `${a.metadata?.namespace}/${a.metadata?.name}`.localeCompare(
      `${b.metadata?.namespace}/${b.metadata?.name}`,
    ),
  );
  const byNamespace = new Map<string, SyncPod[]>();
  for (const pod of pods) {
    const ns = pod.metadata?.namespace ?? '';
    const list = byNamespace.get(ns) ?? [];
    list.push(pod);
    byNamespace.set(ns, list);
  }
  for (const service of sorted) {
    const namespace = service.metadata?.namespace ?? '';
    const k8sService = service.metadata?.name ?? '';
    for (const pod of byNamespace.get(namespace) ?? []) {
      if (!isInjected(pod) || !selects(service, pod)) continue;
      for (const r of podRegistrations(pod, k8sService)) if (!out.has(r.Service.ID)) out.set(r.Service.ID, r);
    }
  }
  return out;
}

function podRegistrations(pod: SyncPod, k8sService: string): Registration[] {
  const podName = pod.metadata?.name;
  const namespace = pod.metadata?.namespace ?? '';
  const ip = pod.status?.podIP;
  const node = pod.spec?.nodeName;
  if (!podName || !ip || !node) return [];
  if (pod.metadata?.deletionTimestamp != null) return [];
  if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return [];
  const target = podService(pod);
  if (!target.ok) return [];
  const { service, appPort } = target.value;
  const ready = podReady(pod);
  const status: CheckStatus = ready ? 'passing' : 'critical';
  const output = ready ? 'Kubernetes reports the pod Ready' : 'Kubernetes reports the pod not Ready';
  const meta = {
    [META_K8S_NAMESPACE]: namespace,
    [META_K8S_SERVICE]: k8sService,
    [META_MANAGED_BY]: MANAGED_BY,
    [META_POD_NAME]: podName,
  };
  const serviceID = `${podName}-${service}`;
  const proxyID = `${serviceID}-sidecar-proxy`;
  const nodeAddress = pod.status?.hostIP || ip;
  const check = (id: string) => ({
    CheckID: `${namespace}/${id}`,
    Name: CHECK_NAME,
    ServiceID: id,
    Status: status,
    Output: output,
    Type: 'kubernetes-readiness',
  });
  const rawUpstreams = pod.metadata?.annotations?.[ANNOTATION_UPSTREAMS];
  const parsed = rawUpstreams === undefined ? undefined : parseUpstreams(rawUpstreams);
  const upstreams = parsed?.ok ? parsed.value : [];
  return [
    {
      Node: node,
      Address: nodeAddress,
      Service: { ID: serviceID, Service: service, Address: ip, Port: appPort ?? 0, Meta: meta },
      Checks: [check(serviceID)],
    },
    {
      Node: node,
      Address: nodeAddress,
      Service: {
        ID: proxyID,
        Service: `${service}-sidecar-proxy`,
        Kind: 'connect-proxy',
        Address: ip,
        Port: SIDECAR_PUBLIC_PORT,
        Meta: meta,
        Proxy: {
          DestinationServiceName: service,
          DestinationServiceID: serviceID,
          LocalServiceAddress: '127.0.0.1',
          ...(appPort === undefined ? {} : { LocalServicePort: appPort }),
          Upstreams: upstreams.map((u) => ({
            DestinationType: 'service',
            DestinationName: u.service,
            ...(u.peer ? { DestinationPeer: u.peer } : {}),
            LocalBindAddress: '127.0.0.1',
            LocalBindPort: u.port,
          })),
        },
      },
      Checks: [check(proxyID)],
    },
  ];
}
