// Whether and how a pod being created gets the sidecar: the namespace rules, the consul-k8s
// annotations, and the JSON patch that adds the container and marks the pod injected. Pure: the
// admission webhook hands it the pod and the settings and sends back what it returns.
import {
  ANNOTATION_INJECT,
  ANNOTATION_INJECT_STATUS,
  ANNOTATION_SERVICE,
  ANNOTATION_SERVICE_PORT,
  ANNOTATION_SIDECAR_RESOURCES,
  ANNOTATION_TRANSPARENT_PROXY,
  ANNOTATION_UPSTREAMS,
  INJECTED,
  LABEL_INJECT_STATUS,
  type Parsed,
  parseBool,
  parsePortNumber,
  parseUpstreams,
  quantityProblem,
  serviceNameProblem,
  type Upstream,
} from './annotations.js';
import {
  type Resources,
  SIDECAR_CONTAINER_NAME,
  type SidecarContainer,
  type SidecarSettings,
  sidecarContainer,
} from './sidecar.js';

/** The parts of a Pod the injector reads. */
export interface PodShape {
  metadata?: {
    name?: string;
    generateName?: string;
    namespace?: string;
    annotations?: Record<string, string> | null;
    labels?: Record<string, string> | null;
  };
  spec?: {
    containers?: { name: string; ports?: { name?: string; containerPort: number }[] | null }[];
    serviceAccountName?: string;
    automountServiceAccountToken?: boolean;
  };
}

export interface InjectSettings extends SidecarSettings {
  /** connectInject.default: inject pods without the connect-inject annotation. */
  defaultInject: boolean;
  /** Namespaces whose pods may be injected; "*" is every namespace. */
  allowNamespaces: readonly string[];
  /** Namespaces never injected; wins over allowNamespaces. */
  denyNamespaces: readonly string[];
}

/** Namespaces of the cluster's own workloads, never injected (as in consul-k8s). */
const SYSTEM_NAMESPACES = ['kube-system', 'kube-public'];

export type JsonPatchOp = { op: 'add'; path: string; value: unknown };

export type InjectDecision =
  | { kind: 'skip'; reason: string; warnings: string[] }
  | { kind: 'reject'; message: string }
  | { kind: 'inject'; container: SidecarContainer; patch: JsonPatchOp[]; warnings: string[] };

/** The service a pod's instances register under and the port its app listens on. */
export interface PodService {
  service: string;
  /** Undefined when the pod exposes no port (it only calls its upstreams). */
  appPort: number | undefined;
}

export function namespaceAllowed(namespace: string, settings: InjectSettings): boolean {
  if (SYSTEM_NAMESPACES.includes(namespace)) return false;
  if (settings.denyNamespaces.includes(namespace)) return false;
  return settings.allowNamespaces.includes('*') || settings.allowNamespaces.includes(namespace);
}

/**
 * The service name (connect-service, else the first container's name) and the app port
 * (connect-service-port as a number or a container port's name, else the first container's first port).
 */
export function podService(pod: PodShape): Parsed<PodService> {
  const annotations = pod.metadata?.annotations ?? {};
  const containers = pod.spec?.containers ?? [];
  const app = containers.filter((c) => c.name !== SIDECAR_CONTAINER_NAME);
  const named = annotations[ANNOTATION_SERVICE]?.trim();
  const service = named || app[0]?.name || '';
  const badName = serviceNameProblem(named ? ANNOTATION_SERVICE : 'the first container name', service);
  if (badName) return { ok: false, problem: badName };
  const portText = annotations[ANNOTATION_SERVICE_PORT]?.trim();
  if (portText) {
    const number = parsePortNumber(portText);
    if (number !== undefined) return { ok: true, value: { service, appPort: number } };
    for (const c of app) {
      const port = (c.ports ?? []).find((p) => p.name === portText);
      if (port) return { ok: true, value: { service, appPort: port.containerPort } };
    }
    return {
      ok: false,
      problem: `annotation ${ANNOTATION_SERVICE_PORT}: ${JSON.stringify(portText)} is neither a port number nor the name of a container port`,
    };
  }
  return { ok: true, value: { service, appPort: app[0]?.ports?.[0]?.containerPort } };
}

export function isInjected(pod: PodShape): boolean {
  return (
    pod.metadata?.annotations?.[ANNOTATION_INJECT_STATUS] === INJECTED ||
    (pod.spec?.containers ?? []).some((c) => c.name === SIDECAR_CONTAINER_NAME)
  );
}

/** What to do with a pod being created in `namespace`. */
export function decideInjection(pod: PodShape, namespace: string, settings: InjectSettings): InjectDecision {
  const annotations = pod.metadata?.annotations ?? {};
  const warnings: string[] = [];
  if (isInjected(pod)) return { kind: 'skip', reason: 'already injected', warnings };
  if (!namespaceAllowed(namespace, settings))
    return { kind: 'skip', reason: `namespace ${namespace} is not injected`, warnings };
  let wanted = settings.defaultInject;
  const raw = annotations[ANNOTATION_INJECT];
  if (raw !== undefined) {
    const parsed = parseBool(ANNOTATION_INJECT, raw.trim());
    if (!parsed.ok) return { kind: 'reject', message: parsed.problem };
    wanted = parsed.value;
  }
  if (!wanted)
    return {
      kind: 'skip',
      reason:
        raw === undefined ? 'not annotated and injection is not the default' : 'annotated not to inject',
      warnings,
    };

  const tproxy = annotations[ANNOTATION_TRANSPARENT_PROXY];
  if (tproxy !== undefined) {
    const parsed = parseBool(ANNOTATION_TRANSPARENT_PROXY, tproxy.trim());
    if (!parsed.ok) return { kind: 'reject', message: parsed.problem };
    if (parsed.value) {
      warnings.push(
        `${ANNOTATION_TRANSPARENT_PROXY}: transparent proxy (iptables redirection) is not supported by meshpeer; ` +
          `the sidecar was injected without it: list the services this pod calls in ${ANNOTATION_UPSTREAMS} ` +
          '(e.g. "backend:1234" or "backend.svc.cluster-01.peer:1234") and dial them on localhost',
      );
    }
  }
  const target = podService(pod);
  if (!target.ok) return { kind: 'reject', message: target.problem };
  let upstreams: Upstream[] = [];
  const rawUpstreams = annotations[ANNOTATION_UPSTREAMS];
  if (rawUpstreams !== undefined) {
    const parsed = parseUpstreams(rawUpstreams);
    if (!parsed.ok) return { kind: 'reject', message: parsed.problem };
    upstreams = parsed.value;
  }
  if (target.value.appPort !== undefined && upstreams.some((u) => u.port === target.value.appPort)) {
    return {
      kind: 'reject',
      message: `annotation ${ANNOTATION_UPSTREAMS}: local port ${target.value.appPort} is the app's own port`,
    };
  }
  if (settings.aclAuthMethod !== undefined) {
    const problem = loginProblem(pod, target.value.service);
    if (problem !== undefined) return { kind: 'reject', message: problem };
  }
  const resources = sidecarResources(annotations, settings.resources);
  if (!resources.ok) return { kind: 'reject', message: resources.problem };
  const container = sidecarContainer(
    target.value.service,
    target.value.appPort,
    upstreams,
    resources.value,
    settings,
  );
  return { kind: 'inject', container, patch: injectionPatch(pod, container), warnings };
}

/**
 * With ACLs on, the sidecar logs in with its pod's service-account token and the binding rule gives it
 * the service named after the account: the pod must run as that account and mount its token (as
 * consul-k8s requires).
 */
function loginProblem(pod: PodShape, service: string): string | undefined {
  const account = pod.spec?.serviceAccountName || 'default';
  if (account !== service) {
    return (
      `ACLs are on, so the sidecar logs in as the pod's service account, which must be named after the ` +
      `service: the pod runs as service account "${account}" but is service "${service}"; set ` +
      `spec.serviceAccountName: ${service} (and create that ServiceAccount)`
    );
  }
  if (pod.spec?.automountServiceAccountToken === false) {
    return (
      "ACLs are on, so the sidecar logs in with the pod's service-account token: " +
      'spec.automountServiceAccountToken must not be false'
    );
  }
  return undefined;
}

/** The chart's resources with the pod's sidecar-proxy-* annotations over them. */
function sidecarResources(annotations: Record<string, string>, defaults: Resources): Parsed<Resources> {
  const out: Resources = {
    ...(defaults.requests ? { requests: { ...defaults.requests } } : {}),
    ...(defaults.limits ? { limits: { ...defaults.limits } } : {}),
  };
  const fields = [
    ['requests', 'cpu', ANNOTATION_SIDECAR_RESOURCES.cpuRequest],
    ['limits', 'cpu', ANNOTATION_SIDECAR_RESOURCES.cpuLimit],
    ['requests', 'memory', ANNOTATION_SIDECAR_RESOURCES.memoryRequest],
    ['limits', 'memory', ANNOTATION_SIDECAR_RESOURCES.memoryLimit],
  ] as const;
  for (const [group, resource, annotation] of fields) {
    const value = annotations[annotation]?.trim();
    if (!value) continue;
    const bad = quantityProblem(`annotation ${annotation}`, value);
    if (bad) return { ok: false, problem: bad };
    out[group] = { ...out[group], [resource]: value };
  }
  return { ok: true, value: out };
}

/** RFC 6901: "/" and "~" in a key. */
function pointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

function injectionPatch(pod: PodShape, container: SidecarContainer): JsonPatchOp[] {
  const patch: JsonPatchOp[] = [];
  const hasContainers = (pod.spec?.containers ?? []).length > 0;
  patch.push(
    hasContainers
      ? { op: 'add', path: '/spec/containers/-', value: container }
      : { op: 'add', path: '/spec/containers', value: [container] },
  );
  if (pod.metadata?.annotations) {
    patch.push({
      op: 'add',
      path: `/metadata/annotations/${pointer(ANNOTATION_INJECT_STATUS)}`,
      value: INJECTED,
    });
  } else {
    patch.push({ op: 'add', path: '/metadata/annotations', value: { [ANNOTATION_INJECT_STATUS]: INJECTED } });
  }
  if (pod.metadata?.labels) {
    patch.push({ op: 'add', path: `/metadata/labels/${pointer(LABEL_INJECT_STATUS)}`, value: INJECTED });
  } else {
    patch.push({ op: 'add', path: '/metadata/labels', value: { [LABEL_INJECT_STATUS]: INJECTED } });
  }
  return patch;
}
