// Time from `kubectl apply` of a PeeringDialer to an ACTIVE peering, through real processes: two
// kube-apiservers (scripts/k8s-up.sh), two `meshpeer server --dev`, two `meshpeer controller`. Each
// round makes a fresh acceptor on cluster 1, copies its token Secret to cluster 2, then times the
// dialer's apply until (a) the dialing server reports ACTIVE and (b) the PeeringDialer's status does.
// Then reconcile throughput: 500 ServiceIntentions applied at once, until all are on the server and Synced.
//   npm run build && node dist/bench/controller-apply-to-active.js [--rounds 10]
import { type ChildProcess, spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = `${ROOT}dist/src/cli/main.js`;

interface Cluster {
  name: string;
  kubeconfig: string;
  custom: CustomObjectsApi;
  core: CoreV1Api;
}

const children: ChildProcess[] = [];
const clusters: string[] = [];

function exec(command: string, args: string[], stdin?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${command} ${args.join(' ')}: ${err}`)),
    );
    child.stdin.end(stdin ?? '');
  });
}

async function startCluster(label: string): Promise<Cluster> {
  const name = `${label}-${process.pid}`;
  const up = JSON.parse(
    await exec(`${ROOT}scripts/k8s-up.sh`, ['--json', '--owner-pid', String(process.pid), name]),
  ) as { kubeconfig: string };
  clusters.push(name);
  await exec('kubectl', ['--kubeconfig', up.kubeconfig, 'apply', '-f', `${ROOT}deploy/crds`]);
  await exec('kubectl', [
    '--kubeconfig',
    up.kubeconfig,
    'wait',
    '--for=condition=Established',
    'crd',
    '--all',
  ]);
  const kc = new KubeConfig();
  kc.loadFromFile(up.kubeconfig);
  return {
    name,
    kubeconfig: up.kubeconfig,
    custom: kc.makeApiClient(CustomObjectsApi),
    core: kc.makeApiClient(CoreV1Api),
  };
}

function startNode(
  args: string[],
  ready?: RegExp,
): Promise<{ child: ChildProcess; match: RegExpExecArray | null }> {
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  if (!ready) return Promise.resolve({ child, match: null });
  return new Promise((resolve, reject) => {
    let log = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      log += d;
      const match = ready.exec(log);
      if (match) resolve({ child, match });
    });
    child.on('exit', (code) => reject(new Error(`exited ${code}: ${log.slice(-2000)}`)));
  });
}

async function startServer(datacenter: string): Promise<string> {
  const { match } = await startNode(
    [
      CLI,
      'server',
      '--dev',
      '--http-addr',
      '127.0.0.1:0',
      '--grpc-addr',
      '127.0.0.1:0',
      '--datacenter',
      datacenter,
    ],
    /"msg":"server ready".*?"httpAddress":"([^"]+)"|"httpAddress":"([^"]+)".*?"msg":"server ready"/,
  );
  return `http://${match?.[1] ?? match?.[2]}`;
}

async function startController(kubeconfig: string, server: string): Promise<void> {
  const args = ['--kubeconfig', kubeconfig, '--server', server];
  await startNode([CLI, 'controller', ...args]);
}

async function until<T>(check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function peeringYaml(kind: 'PeeringAcceptor' | 'PeeringDialer', name: string, secret: string): string {
  return `apiVersion: consul.hashicorp.com/v1alpha1
kind: ${kind}
metadata:
  name: ${name}
spec:
  peer:
    secret: { name: ${secret}, key: data, backend: kubernetes }
`;
}

async function peeringState(server: string, name: string): Promise<string | undefined> {
  const res = await fetch(`${server}/v1/peering/${name}`);
  if (!res.ok) return undefined;
  return ((await res.json()) as { State?: string }).State;
}

async function dialerState(cluster: Cluster, name: string): Promise<string | undefined> {
  const obj = (await cluster.custom.getNamespacedCustomObject({
    group: 'consul.hashicorp.com',
    version: 'v1alpha1',
    namespace: 'default',
    plural: 'peeringdialers',
    name,
  })) as { status?: { peeringState?: string } };
  return obj.status?.peeringState;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function main(): Promise<void> {
  const roundsFlag = process.argv.indexOf('--rounds');
  const rounds = roundsFlag > 0 ? Number(process.argv[roundsFlag + 1]) : 10;
  const [c1, c2, s1, s2] = await Promise.all([
    startCluster('bench-ctl-1'),
    startCluster('bench-ctl-2'),
    startServer('cluster-01'),
    startServer('cluster-02'),
  ]);
  await Promise.all([startController(c1.kubeconfig, s1), startController(c2.kubeconfig, s2)]);

  const toServer: number[] = [];
  const toStatus: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const peer = `peer-${i}`;
    const secret = `token-${i}`;
    await exec(
      'kubectl',
      ['--kubeconfig', c1.kubeconfig, 'apply', '-f', '-'],
      peeringYaml('PeeringAcceptor', peer, secret),
    );
    const token = await until(
      async () => (await c1.core.readNamespacedSecret({ namespace: 'default', name: secret })).data?.data,
    );
    await c2.core.createNamespacedSecret({
      namespace: 'default',
      body: { metadata: { name: secret }, data: { data: token } },
    });

    const dialer = `dialer-${i}`;
    const started = performance.now();
    await exec(
      'kubectl',
      ['--kubeconfig', c2.kubeconfig, 'apply', '-f', '-'],
      peeringYaml('PeeringDialer', dialer, secret),
    );
    await until(async () => ((await peeringState(s2, dialer)) === 'ACTIVE' ? true : undefined));
    toServer.push(performance.now() - started);
    await until(async () => ((await dialerState(c2, dialer)) === 'ACTIVE' ? true : undefined));
    toStatus.push(performance.now() - started);
  }
  const fmt = (values: number[]): string => {
    const sorted = [...values].sort((a, b) => a - b);
    return `p50 ${percentile(sorted, 50).toFixed(0)} ms  p90 ${percentile(sorted, 90).toFixed(0)} ms  max ${sorted.at(-1)?.toFixed(0)} ms`;
  };
  console.log(`controller: kubectl apply PeeringDialer -> ACTIVE (${rounds} rounds)`);
  console.log(`  server State ACTIVE:      ${fmt(toServer)}`);
  console.log(`  status.peeringState ACTIVE: ${fmt(toStatus)}`);
  await reconcileThroughput(c1, s1, 500);
}

/**
 * Reconcile throughput: one `kubectl apply` of `count` ServiceIntentions, timed until the server holds
 * every entry and until every resource reports Synced=True.
 */
async function reconcileThroughput(cluster: Cluster, server: string, count: number): Promise<void> {
  const docs = Array.from(
    { length: count },
    (_, i) => `apiVersion: consul.hashicorp.com/v1alpha1
kind: ServiceIntentions
metadata:
  name: bench-${i}
spec:
  destination: { name: svc-${i} }
  sources:
    - { name: frontend, peer: cluster-02, action: allow }
`,
  ).join('---\n');
  const started = performance.now();
  await exec('kubectl', ['--kubeconfig', cluster.kubeconfig, 'apply', '-f', '-'], docs);
  const applied = performance.now() - started;
  await until(async () => {
    const res = await fetch(`${server}/v1/config/service-intentions`);
    const entries = (await res.json()) as Array<{ Name: string }>;
    return entries.filter((e) => e.Name.startsWith('svc-')).length >= count ? true : undefined;
  }, 300_000);
  const onServer = performance.now() - started;
  await until(async () => {
    const list = (await cluster.custom.listNamespacedCustomObject({
      group: 'consul.hashicorp.com',
      version: 'v1alpha1',
      namespace: 'default',
      plural: 'serviceintentions',
    })) as { items: Array<{ status?: { conditions?: Array<{ type: string; status: string }> } }> };
    const synced = list.items.filter((o) =>
      o.status?.conditions?.some((c) => c.type === 'Synced' && c.status === 'True'),
    ).length;
    return synced >= count ? true : undefined;
  }, 300_000);
  const allSynced = performance.now() - started;
  console.log(`controller: reconcile throughput, ${count} ServiceIntentions in one kubectl apply`);
  console.log(`  kubectl apply returned after ${(applied / 1000).toFixed(2)} s`);
  console.log(
    `  all on the server after ${(onServer / 1000).toFixed(2)} s (${(count / (onServer / 1000)).toFixed(0)} resources/s)`,
  );
  console.log(
    `  all Synced=True after ${(allSynced / 1000).toFixed(2)} s (${(count / (allSynced / 1000)).toFixed(0)} resources/s)`,
  );
}

async function cleanup(): Promise<void> {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  await Promise.all(
    clusters.map((name) => exec(`${ROOT}scripts/k8s-up.sh`, ['--down', name]).catch(() => undefined)),
  );
}

main()
  .then(cleanup)
  .catch(async (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    await cleanup();
    process.exitCode = 1;
  });
