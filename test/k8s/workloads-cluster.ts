// A kube-apiserver that runs workloads, for the injector and catalog-sync tests: scripts/k8s-up.sh
// --workloads adds kube-controller-manager, kube-scheduler and kwok with fake nodes (Deployments make
// pods, pods are scheduled and become Running and Ready with IPs; nothing really runs). Also the
// webhook certificate and the controller process with --inject.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { type KubeApiServer, repoRoot, run } from '../support/kube-apiserver.js';

const BUILD_TIMEOUT_MS = 40 * 60_000;

function binDir(): string {
  const cache = process.env.MESHPEER_CACHE ?? path.join(os.homedir(), '.cache', 'meshpeer');
  return path.join(cache, 'k8s', process.env.K8S_VERSION ?? 'v1.37.2', 'bin');
}

/** Builds whatever of the five binaries is missing (scripts/k8s-build.sh; a no-op when cached). */
async function build(): Promise<void> {
  const all = ['kube-apiserver', 'etcd', 'kube-controller-manager', 'kube-scheduler', 'kwok'];
  if (all.every((b) => existsSync(path.join(binDir(), b)))) return;
  const r = await run(path.join(repoRoot, 'scripts', 'k8s-build.sh'), [], {
    timeoutMs: BUILD_TIMEOUT_MS,
    teeStderr: true,
  });
  if (r.code !== 0)
    throw new Error(`scripts/k8s-build.sh failed (exit ${r.code}):\n${r.stderr.slice(-4000)}`);
}

export interface WorkloadCluster extends KubeApiServer {
  nodes: number;
}

/**
 * Starts etcd, kube-apiserver, controller-manager, scheduler and kwok with `nodes` fake nodes; pods get
 * IPs from `podCidr` when given (a loopback range lets a test listen at a pod's IP).
 */
export async function startWorkloadCluster(
  name: string,
  nodes = 2,
  podCidr?: string,
): Promise<WorkloadCluster> {
  await build();
  const unique = `${name}-${randomBytes(3).toString('hex')}`;
  const up = path.join(repoRoot, 'scripts', 'k8s-up.sh');
  const r = await run(up, ['--json', '--workloads', '--owner-pid', String(process.pid), unique], {
    env: { ...process.env, K8S_NODES: String(nodes), ...(podCidr ? { K8S_POD_CIDR: podCidr } : {}) },
    timeoutMs: 240_000,
  });
  if (r.code !== 0)
    throw new Error(`scripts/k8s-up.sh --workloads ${unique} failed:\n${r.stderr.slice(-4000)}`);
  const state = JSON.parse(r.stdout.trim()) as {
    kubeconfig: string;
    server: string;
    token: string;
    dir: string;
  };
  let stopping: Promise<void> | undefined;
  return {
    name: unique,
    nodes,
    kubeconfigPath: state.kubeconfig,
    server: state.server,
    token: state.token,
    dir: state.dir,
    stop() {
      stopping ??= run(up, ['--down', unique], { timeoutMs: 90_000 }).then((d) => {
        if (d.code !== 0) throw new Error(`scripts/k8s-up.sh --down ${unique} failed:\n${d.stderr}`);
      });
      return stopping;
    },
  };
}

/** A self-signed certificate for 127.0.0.1 in a scratch directory (the webhook's TLS). */
export function webhookCertificate(): { dir: string; cert: string; key: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'meshpeer-inject-'));
  const cert = path.join(dir, 'tls.crt');
  const key = path.join(dir, 'tls.key');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  return { dir, cert, key, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The MutatingWebhookConfiguration of the injector, pointing at the controller's loopback URL. */
export function injectorWebhookConfig(name: string, port: number, caPem: string): string {
  return `apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: { name: ${name} }
webhooks:
  - name: inject.meshpeer.consul.hashicorp.com
    admissionReviewVersions: [v1]
    sideEffects: None
    failurePolicy: Fail
    reinvocationPolicy: Never
    clientConfig:
      url: https://127.0.0.1:${port}/mutate
      caBundle: ${Buffer.from(caPem).toString('base64')}
    namespaceSelector:
      matchExpressions:
        - { key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system, kube-public] }
    rules:
      - apiGroups: [""]
        apiVersions: [v1]
        operations: [CREATE]
        resources: [pods]
        scope: Namespaced
`;
}
