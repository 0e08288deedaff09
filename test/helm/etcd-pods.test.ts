// The chart with server.replicas 3 and its own etcd, installed into a cluster that runs workloads
// (scripts/k8s-up.sh --workloads: controller-manager, scheduler and kwok's fake nodes, on which pods
// become Running without running anything): both StatefulSets get all their pods scheduled, and each
// etcd member gets its own volume. Volumes come from PersistentVolumes made here for a StorageClass
// without a provisioner (the fake nodes have no storage), named through server.etcd.deploy.storageClass.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkloadCluster, type WorkloadCluster } from '../k8s/workloads-cluster.js';
import { type HelmCli, helmCli } from '../support/helm-cli.js';
import { kubectlOk, repoRoot } from '../support/kube-apiserver.js';

const chart = path.join(repoRoot, 'deploy', 'helm', 'meshpeer');
const NODES = 3;
let cluster: WorkloadCluster | undefined;
let scratch = '';
let helm: HelmCli | undefined;

const kc = (): string => cluster?.kubeconfigPath ?? '';

interface Pod {
  metadata: { name: string; labels: Record<string, string> };
  spec: { nodeName?: string; volumes?: { name: string; persistentVolumeClaim?: { claimName: string } }[] };
  status: { phase?: string; podIP?: string };
}

async function pods(component: string): Promise<Pod[]> {
  const out = await kubectlOk(kc(), [
    '-n',
    'mesh',
    'get',
    'pods',
    '-l',
    `app.kubernetes.io/component=${component}`,
    '-o',
    'json',
  ]);
  return (JSON.parse(out) as { items: Pod[] }).items;
}

/** Polls until every pod of the component is Running (the fake nodes report Running once scheduled). */
async function running(component: string, count: number): Promise<Pod[]> {
  let last: Pod[] = [];
  for (let attempt = 0; attempt < 600; attempt++) {
    last = await pods(component);
    if (last.length === count && last.every((p) => p.status.phase === 'Running')) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  const state = last.map((p) => `${p.metadata.name}: ${p.status.phase ?? '?'} on ${p.spec.nodeName ?? '-'}`);
  throw new Error(`the ${component} pods did not all run: ${state.join('; ') || 'none'}`);
}

beforeAll(async () => {
  helm = helmCli('meshpeer-helm-etcd-pods-');
  scratch = helm.scratch;
  cluster = await startWorkloadCluster('helm-etcd-pods', NODES);
  await kubectlOk(kc(), ['create', 'namespace', 'mesh']);
  const storage = [
    {
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: { name: 'manual' },
      provisioner: 'kubernetes.io/no-provisioner',
      volumeBindingMode: 'Immediate',
    },
    ...[0, 1, 2].map((i) => ({
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: `etcd-volume-${i}` },
      spec: {
        storageClassName: 'manual',
        capacity: { storage: '1Gi' },
        accessModes: ['ReadWriteOnce'],
        hostPath: { path: `/var/lib/etcd-volume-${i}` },
      },
    })),
  ];
  await kubectlOk(
    kc(),
    ['apply', '-f', '-'],
    JSON.stringify({ apiVersion: 'v1', kind: 'List', items: storage }),
  );
}, 45 * 60_000);

afterAll(async () => {
  await cluster?.stop();
  helm?.cleanup();
});

describe('three servers and three etcd members on a cluster that schedules pods', () => {
  it('schedules every server and etcd pod, each etcd member on a volume of its own', async () => {
    const values = path.join(scratch, 'values.json');
    writeFileSync(
      values,
      JSON.stringify({
        server: { replicas: 3, etcd: { deploy: { enabled: true, storage: '1Gi', storageClass: 'manual' } } },
      }),
    );
    const r = (helm as HelmCli).run(['install', 'meshpeer', chart, '-n', 'mesh', '-f', values], {
      kubeconfig: kc(),
    });
    expect(r.status, r.stderr).toBe(0);

    const etcd = await running('etcd', 3);
    expect(etcd.map((p) => p.metadata.name).sort()).toEqual([
      'meshpeer-etcd-0',
      'meshpeer-etcd-1',
      'meshpeer-etcd-2',
    ]);
    const claims = etcd.map(
      (p) => p.spec.volumes?.find((v) => v.name === 'data')?.persistentVolumeClaim?.claimName,
    );
    expect(claims.sort()).toEqual(['data-meshpeer-etcd-0', 'data-meshpeer-etcd-1', 'data-meshpeer-etcd-2']);
    const bound = await kubectlOk(kc(), [
      '-n',
      'mesh',
      'get',
      'pvc',
      '-o',
      'jsonpath={range .items[*]}{.metadata.name}={.status.phase}:{.spec.volumeName}{"\\n"}{end}',
    ]);
    const volumes = bound.trim().split('\n').sort();
    expect(volumes).toHaveLength(3);
    for (const line of volumes) expect(line).toMatch(/^data-meshpeer-etcd-\d=Bound:etcd-volume-\d$/);
    expect(new Set(volumes.map((l) => l.split(':')[1])).size).toBe(3);

    const servers = await running('server', 3);
    expect(servers.map((p) => p.metadata.name).sort()).toEqual([
      'meshpeer-server-0',
      'meshpeer-server-1',
      'meshpeer-server-2',
    ]);
    // No volume claims for the servers on etcd, and each pod has its own IP to advertise.
    for (const p of servers) expect(p.spec.volumes?.some((v) => v.persistentVolumeClaim)).toBe(false);
    expect(new Set(servers.map((p) => p.status.podIP)).size).toBe(3);
    // The headless Service lists every member, ready or not, under its stable name.
    const slices = await kubectlOk(kc(), [
      '-n',
      'mesh',
      'get',
      'endpointslices',
      '-l',
      'kubernetes.io/service-name=meshpeer-etcd',
      '-o',
      'jsonpath={range .items[*].endpoints[*]}{.hostname}{"\\n"}{end}',
    ]);
    expect(slices.trim().split('\n').sort()).toEqual([
      'meshpeer-etcd-0',
      'meshpeer-etcd-1',
      'meshpeer-etcd-2',
    ]);
  });
});
