// The `meshpeer proxy` container the injector adds to a pod: its command line (service, inbound
// listener in front of the app, upstream listeners on localhost, engine), resources and readiness probe.
import type { Upstream } from './annotations.js';

export const SIDECAR_CONTAINER_NAME = 'meshpeer-proxy';
/** The sidecar's inbound mTLS listener in the pod, which the catalog registers as the proxy's port. */
export const SIDECAR_PUBLIC_PORT = 20000;

/** What carries a sidecar's bytes: `meshpeer proxy --engine`. */
export const SIDECAR_ENGINES = ['node', 'haproxy', 'nginx'] as const;
export type SidecarEngine = (typeof SIDECAR_ENGINES)[number];

export interface Resources {
  requests?: { cpu?: string; memory?: string };
  limits?: { cpu?: string; memory?: string };
}

export interface SidecarSettings {
  image: string;
  /** The meshpeer server's HTTP address, as the sidecar dials it. */
  serverAddress: string;
  imagePullPolicy?: string;
  resources: Resources;
  /**
   * With ACLs on: the `kubernetes` auth method the sidecar logs in with, using its pod's service-account
   * token, for a token of its own service only (the binding rule names the service after the account).
   */
  aclAuthMethod?: string;
  /** PEM of the server's CA when its API is HTTPS: given to the sidecar inline (pods in any namespace). */
  serverCaPem?: string;
  /**
   * What carries the sidecar's bytes: `node` (the default: the sidecar process itself), `haproxy` or
   * `nginx` (an HAProxy or nginx child process the sidecar configures with the same decisions; the image
   * ships both).
   */
  engine?: SidecarEngine;
}

type EnvVar =
  | { name: string; value: string }
  | { name: string; valueFrom: { fieldRef: { fieldPath: string } } };

export interface SidecarContainer {
  name: string;
  image: string;
  imagePullPolicy?: string;
  command: string[];
  args: string[];
  env: EnvVar[];
  ports?: { name: string; containerPort: number; protocol: string }[];
  resources: Resources;
  readinessProbe?: {
    tcpSocket: { port: number };
    initialDelaySeconds: number;
    periodSeconds: number;
    failureThreshold: number;
  };
}

/** `--upstream` of `meshpeer proxy` for one annotation upstream. */
export function upstreamFlag(upstream: Upstream): string {
  return upstream.peer
    ? `${upstream.service}:peer=${upstream.peer}:${upstream.port}`
    : `${upstream.service}:${upstream.port}`;
}

export function sidecarContainer(
  service: string,
  appPort: number | undefined,
  upstreams: readonly Upstream[],
  resources: Resources,
  settings: SidecarSettings,
): SidecarContainer {
  const args = ['--service', service];
  if (appPort !== undefined) {
    args.push('--listen', `0.0.0.0:${SIDECAR_PUBLIC_PORT}`, '--app-port', String(appPort));
  }
  for (const upstream of upstreams) args.push('--upstream', upstreamFlag(upstream));
  // Node is the proxy's default: its command line stays as it always was.
  if (settings.engine !== undefined && settings.engine !== 'node') args.push('--engine', settings.engine);
  const env: EnvVar[] = [{ name: 'MESHPEER_HTTP_ADDR', value: settings.serverAddress }];
  if (settings.serverCaPem !== undefined)
    env.push({ name: 'MESHPEER_HTTP_CACERT_PEM', value: settings.serverCaPem });
  if (settings.aclAuthMethod !== undefined) {
    // Kubernetes expands $(VAR) in args from the container's env: the login names its pod.
    args.push(
      '--acl-auth-method',
      settings.aclAuthMethod,
      '--acl-login-meta',
      'pod=$(POD_NAMESPACE)/$(POD_NAME)',
    );
    env.push(
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    );
  }
  const container: SidecarContainer = {
    name: SIDECAR_CONTAINER_NAME,
    image: settings.image,
    ...(settings.imagePullPolicy ? { imagePullPolicy: settings.imagePullPolicy } : {}),
    command: ['meshpeer', 'proxy'],
    args,
    env,
    resources,
  };
  // Without an app port there is no inbound listener to probe (the pod only calls out).
  if (appPort !== undefined) {
    container.ports = [{ name: 'proxy-public', containerPort: SIDECAR_PUBLIC_PORT, protocol: 'TCP' }];
    container.readinessProbe = {
      tcpSocket: { port: SIDECAR_PUBLIC_PORT },
      initialDelaySeconds: 1,
      periodSeconds: 10,
      failureThreshold: 3,
    };
  }
  return container;
}
