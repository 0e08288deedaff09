// What `meshpeer controller` is given on its command line (parsed by controller-command.ts, used by
// controller-run.ts and controller-inject.ts), and the name of the Lease its replicas elect a leader with.
export const LEASE_NAME = 'meshpeer-controller-lock';

export interface ControllerFlags {
  kubeconfig?: string;
  context?: string;
  server: string;
  token?: string;
  tokenFile?: string;
  namespace?: string;
  datacenter?: string;
  leaderElect?: boolean;
  leaderElectNamespace?: string;
  leaderElectLeaseDuration: string;
  leaderElectRenewDeadline: string;
  leaderElectRetryPeriod: string;
  statusInterval: string;
  resyncPeriod: string;
  workers: string;
  metricsAddr?: string;
  webhookAddr?: string;
  webhookTlsCert?: string;
  webhookTlsKey?: string;
  inject?: boolean;
  injectDefault?: boolean;
  injectImage?: string;
  injectImagePullPolicy?: string;
  injectServer?: string;
  injectAllowNamespaces: string;
  injectDenyNamespaces: string;
  injectAclAuthMethod?: string;
  injectCaFile?: string;
  injectSidecarEngine?: string;
  sidecarCpuRequest?: string;
  sidecarCpuLimit?: string;
  sidecarMemoryRequest?: string;
  sidecarMemoryLimit?: string;
  logLevel?: string;
}
