// The Helm chart in deploy/helm/meshpeer, exercised through the real helm binary: lint, rendering
// with consul-k8s-style values, and the render-time checks that refuse combinations that cannot work.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const repoRoot = resolve(import.meta.dirname, '..', '..');
const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const chartDir = join(repoRoot, 'deploy', 'helm', 'meshpeer');
const buildScript = join(repoRoot, 'scripts', 'helm-build.sh');

// The values from the seed document's "Helm specifications" example, plus connectInject, which
// consul-k8s turns on by default and cluster peering needs.
const seedValues = {
  global: {
    name: 'consul',
    image: 'hashicorp/consul:1.16.0',
    peering: { enabled: true },
    tls: { enabled: true },
  },
  connectInject: { enabled: true },
  meshGateway: { enabled: true },
};

type Values = Record<string, unknown>;

interface Container {
  name: string;
  image: string;
  imagePullPolicy?: string;
  command?: string[];
  args?: string[];
  ports?: { name: string; containerPort: number }[];
  volumeMounts?: { name: string; mountPath: string }[];
}

interface PodTemplate {
  metadata: { labels: Record<string, string> };
  spec: { containers: Container[]; serviceAccountName?: string };
}

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: {
    replicas?: number;
    serviceName?: string;
    selector?: { matchLabels?: Record<string, string> } & Record<string, string>;
    template?: PodTemplate;
    volumeClaimTemplates?: {
      metadata: { name: string };
      spec: { storageClassName?: string; resources: { requests: { storage: string } } };
    }[];
    type?: string;
    clusterIP?: string;
    ports?: { name: string; port: number; targetPort: number | string; nodePort?: number }[];
  };
  rules?: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
  roleRef?: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace: string }[];
}

interface HelmResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

let helm = '';
let scratch = '';
let helmEnv: NodeJS.ProcessEnv = {};

function runHelm(args: string[]): HelmResult {
  const r = spawnSync(helm, args, { encoding: 'utf8', env: helmEnv, timeout: 60_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

let valuesFileCount = 0;
function valuesFile(values: Values): string {
  const file = join(scratch, `values-${valuesFileCount++}.json`);
  writeFileSync(file, JSON.stringify(values));
  return file;
}

/** `helm template` with the given values; extra arguments (such as --set) come after them. */
function template(values: Values, extra: string[] = [], release = 'test'): HelmResult {
  return runHelm(['template', release, chartDir, '--namespace', 'mesh', '-f', valuesFile(values), ...extra]);
}

function render(values: Values, extra: string[] = [], release = 'test'): K8sObject[] {
  const r = template(values, extra, release);
  if (r.status !== 0) throw new Error(`helm template failed (${r.status}): ${r.stderr}`);
  const docs = parseAllDocuments(r.stdout);
  for (const d of docs) {
    if (d.errors.length > 0) throw new Error(`rendered invalid YAML: ${d.errors[0]?.message}`);
  }
  return docs.map((d) => d.toJS() as K8sObject | null).filter((o): o is K8sObject => o !== null);
}

function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) {
    const have = objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ');
    throw new Error(`no ${kind}/${name} among: ${have}`);
  }
  return found;
}

function containerOf(workload: K8sObject): Container {
  const c = workload.spec?.template?.spec.containers[0];
  if (!c) throw new Error(`${workload.kind}/${workload.metadata.name} has no container`);
  return c;
}

function commandOf(workload: K8sObject): string[] {
  const c = containerOf(workload);
  return [...(c.command ?? []), ...(c.args ?? [])];
}

/** The value after a flag in a command line (`--flag value`). */
function flag(command: string[], name: string): string | undefined {
  const i = command.indexOf(name);
  return i >= 0 ? command[i + 1] : undefined;
}

function merge(base: Values, override: Values): Values {
  const out: Values = { ...base };
  for (const [k, v] of Object.entries(override)) {
    const b = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b)
        ? merge(b as Values, v as Values)
        : v;
  }
  return out;
}

/** The value at a dotted path set to `value`, as `--set path=value` would, but in a values file. */
function withValue(base: Values, path: string, value: unknown): Values {
  const override = path
    .split('.')
    .reverse()
    .reduce<unknown>((acc, key) => ({ [key]: acc }), value) as Values;
  return merge(base, override);
}

function workloads(objects: K8sObject[]): K8sObject[] {
  return objects.filter((o) => ['Deployment', 'StatefulSet', 'DaemonSet'].includes(o.kind));
}

beforeAll(() => {
  // Builds helm on first use (minutes), otherwise just prints the cached binary's path.
  const build = spawnSync('bash', [buildScript], { encoding: 'utf8', timeout: 20 * 60_000 });
  if (build.status !== 0) throw new Error(`scripts/helm-build.sh failed: ${build.stderr}`);
  helm = build.stdout.trim().split('\n').at(-1) ?? '';
  scratch = mkdtempSync(join(tmpdir(), 'meshpeer-helm-test-'));
  // Keep helm's own config, cache and data out of the user's home.
  helmEnv = {
    ...process.env,
    HELM_CACHE_HOME: join(scratch, 'cache'),
    HELM_CONFIG_HOME: join(scratch, 'config'),
    HELM_DATA_HOME: join(scratch, 'data'),
  };
}, 25 * 60_000);

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('helm lint', () => {
  it('passes with the default values', () => {
    const r = runHelm(['lint', '--strict', chartDir]);
    expect(r.stderr + r.stdout).toContain('0 chart(s) failed');
    expect(r.status).toBe(0);
  });

  it("passes with the seed document's peering values", () => {
    const r = runHelm(['lint', '--strict', chartDir, '-f', valuesFile(seedValues)]);
    expect(r.status, r.stderr + r.stdout).toBe(0);
  });

  // helm lint reports a template's `fail` as information rather than failing; helm template and
  // helm install fail (see the render-time checks below).
  it('shows the message of a bad combination', () => {
    const r = runHelm([
      'lint',
      chartDir,
      '-f',
      valuesFile(withValue(seedValues, 'global.tls.enabled', false)),
    ]);
    expect(r.stdout + r.stderr).toContain(
      'setting global.peering.enabled to true requires global.tls.enabled to be true',
    );
  });
});

describe("helm template with the seed document's values", () => {
  let objects: K8sObject[] = [];
  beforeAll(() => {
    objects = render(seedValues);
  });

  it('names every object with the global.name prefix', () => {
    const names = objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    expect(names).toEqual(
      [
        'ClusterRole/consul-controller',
        'ClusterRoleBinding/consul-controller',
        'Deployment/consul-controller',
        'Deployment/consul-mesh-gateway',
        'Service/consul-mesh-gateway',
        'Service/consul-server',
        'ServiceAccount/consul-controller',
        'StatefulSet/consul-server',
      ].sort(),
    );
  });

  it('runs every container from global.image', () => {
    const images = workloads(objects).flatMap((w) => w.spec?.template?.spec.containers.map((c) => c.image));
    expect(images).toHaveLength(3);
    for (const image of images) expect(image).toBe('hashicorp/consul:1.16.0');
  });

  it('runs the server as a StatefulSet with its data directory on a persistent volume', () => {
    const sts = find(objects, 'StatefulSet', 'consul-server');
    expect(sts.metadata.namespace).toBe('mesh');
    expect(sts.spec?.serviceName).toBe('consul-server');
    expect(sts.spec?.replicas).toBe(1);

    const command = commandOf(sts);
    expect(command.slice(0, 2)).toEqual(['meshpeer', 'server']);
    expect(flag(command, '--http-addr')).toBe('0.0.0.0:8500');
    expect(flag(command, '--grpc-addr')).toBe('0.0.0.0:8502');
    expect(flag(command, '--data-dir')).toBe('/data');
    expect(flag(command, '--datacenter')).toBe('dc1');

    const container = containerOf(sts);
    expect(container.ports?.map((p) => [p.name, p.containerPort])).toEqual([
      ['http', 8500],
      ['grpc', 8502],
    ]);
    expect(container.volumeMounts).toContainEqual({ name: 'data', mountPath: '/data' });
    const claim = sts.spec?.volumeClaimTemplates?.[0];
    expect(claim?.metadata.name).toBe('data');
    expect(claim?.spec.resources.requests.storage).toBe('10Gi');
  });

  it('exposes the server on http 8500 and grpc 8502 through a Service that selects its pods', () => {
    const svc = find(objects, 'Service', 'consul-server');
    expect(svc.spec?.ports?.map((p) => [p.name, p.port])).toEqual([
      ['http', 8500],
      ['grpc', 8502],
    ]);
    const sts = find(objects, 'StatefulSet', 'consul-server');
    expect(sts.spec?.template?.metadata.labels).toMatchObject(svc.spec?.selector ?? { missing: 'selector' });
  });

  it('points the controller at the server and runs it under its own ServiceAccount', () => {
    const deploy = find(objects, 'Deployment', 'consul-controller');
    expect(commandOf(deploy)).toEqual([
      'meshpeer',
      'controller',
      '--server',
      'http://consul-server:8500',
      '--leader-elect',
      '--datacenter',
      'dc1',
    ]);
    expect(deploy.spec?.template?.spec.serviceAccountName).toBe('consul-controller');

    const binding = find(objects, 'ClusterRoleBinding', 'consul-controller');
    expect(binding.roleRef).toMatchObject({ kind: 'ClusterRole', name: 'consul-controller' });
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: 'consul-controller', namespace: 'mesh' },
    ]);
  });

  it('lets the controller manage the consul.hashicorp.com resources, their status, Secrets, Events and Leases', () => {
    const role = find(objects, 'ClusterRole', 'consul-controller');
    const allows = (group: string, resource: string, verb: string): boolean =>
      (role.rules ?? []).some(
        (r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb),
      );

    const crds = [
      'peeringacceptors',
      'peeringdialers',
      'meshes',
      'exportedservices',
      'proxydefaults',
      'serviceintentions',
      'serviceresolvers',
    ];
    for (const crd of crds) {
      for (const verb of ['get', 'list', 'watch', 'update', 'patch']) {
        expect(allows('consul.hashicorp.com', crd, verb), `${verb} ${crd}`).toBe(true);
      }
      expect(allows('consul.hashicorp.com', `${crd}/status`, 'update'), `${crd}/status`).toBe(true);
    }
    for (const verb of ['get', 'list', 'watch', 'create', 'update', 'delete']) {
      expect(allows('', 'secrets', verb), `${verb} secrets`).toBe(true);
    }
    expect(allows('', 'events', 'create')).toBe(true);
    for (const verb of ['get', 'create', 'update']) {
      expect(allows('coordination.k8s.io', 'leases', verb), `${verb} leases`).toBe(true);
    }
  });

  it('deploys the mesh gateway listening on 8443 behind a LoadBalancer Service', () => {
    const deploy = find(objects, 'Deployment', 'consul-mesh-gateway');
    const command = commandOf(deploy);
    expect(command.slice(0, 2)).toEqual(['meshpeer', 'gateway']);
    expect(flag(command, '--server')).toBe('http://consul-server:8500');
    expect(flag(command, '--listen')).toBe('0.0.0.0:8443');
    // It registers itself, advertising the pod IP (expanded by Kubernetes) unless a WAN address is set.
    expect(command).toContain('--register');
    expect(flag(command, '--advertise')).toBe('$(POD_IP):8443');
    expect(flag(command, '--server-grpc')).toBe('consul-server:8502');
    expect(deploy.spec?.replicas).toBe(1);

    const svc = find(objects, 'Service', 'consul-mesh-gateway');
    expect(svc.spec?.type).toBe('LoadBalancer');
    expect(svc.spec?.ports?.map((p) => [p.port, p.targetPort])).toEqual([[8443, 'gateway']]);
    expect(containerOf(deploy).ports).toContainEqual({
      name: 'gateway',
      containerPort: 8443,
      protocol: 'TCP',
    });
    expect(deploy.spec?.template?.metadata.labels).toMatchObject(
      svc.spec?.selector ?? { missing: 'selector' },
    );
  });

  it('keeps each workload selecting only its own pods', () => {
    const selectors = workloads(objects).map((w) => JSON.stringify(w.spec?.selector?.matchLabels));
    expect(new Set(selectors).size).toBe(selectors.length);
    for (const w of workloads(objects)) {
      expect(w.spec?.template?.metadata.labels).toMatchObject(w.spec?.selector?.matchLabels ?? {});
    }
  });
});

describe('values', () => {
  it("renders the seed document's example values.yaml as written, with connectInject on by default", () => {
    const { connectInject: _, ...asWritten } = seedValues;
    const objects = render(asWritten);
    expect(find(objects, 'StatefulSet', 'consul-server')).toBeDefined();
    expect(find(objects, 'Deployment', 'consul-controller')).toBeDefined();
    expect(find(objects, 'Deployment', 'consul-mesh-gateway')).toBeDefined();
  });

  it('puts every namespaced object in the release namespace', () => {
    const clusterScoped = ['ClusterRole', 'ClusterRoleBinding'];
    for (const o of render(seedValues)) {
      expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(
        clusterScoped.includes(o.kind) ? undefined : 'mesh',
      );
    }
  });

  it('sets global.imagePullPolicy on every container when given', () => {
    const objects = render(withValue(seedValues, 'global.imagePullPolicy', 'IfNotPresent'));
    const policies = workloads(objects).flatMap((w) =>
      w.spec?.template?.spec.containers.map((c) => c.imagePullPolicy),
    );
    expect(policies).toEqual(['IfNotPresent', 'IfNotPresent', 'IfNotPresent']);
  });

  it('renders the server and controller, and no gateway, with the default values', () => {
    const objects = render({}, [], 'prod');
    expect(objects.map((o) => o.metadata.name)).toContain('prod-meshpeer-server');
    expect(find(objects, 'Deployment', 'prod-meshpeer-controller')).toBeDefined();
    expect(objects.filter((o) => o.metadata.name.includes('gateway'))).toEqual([]);
    expect(containerOf(find(objects, 'StatefulSet', 'prod-meshpeer-server')).image).toBe(
      'meshpeer/meshpeer:0.1.0',
    );
  });

  it('uses the release name alone as the prefix when it already says meshpeer', () => {
    const objects = render({}, [], 'meshpeer-east');
    expect(find(objects, 'StatefulSet', 'meshpeer-east-server')).toBeDefined();
    expect(commandOf(find(objects, 'Deployment', 'meshpeer-east-controller'))).toContain(
      'http://meshpeer-east-server:8500',
    );
  });

  it('renders no gateway objects when meshGateway.enabled is false', () => {
    const objects = render({ global: { name: 'consul', image: 'hashicorp/consul:1.16.0' } });
    const gateway = objects.filter(
      (o) =>
        o.metadata.labels?.['app.kubernetes.io/component'] === 'mesh-gateway' ||
        o.metadata.name.includes('gateway'),
    );
    expect(gateway).toEqual([]);
    expect(find(objects, 'StatefulSet', 'consul-server')).toBeDefined();
  });

  it('renders no controller when connectInject.enabled is false', () => {
    const objects = render({ connectInject: { enabled: false } });
    expect(objects.map((o) => o.kind)).toEqual(expect.arrayContaining(['Service', 'StatefulSet']));
    expect(objects.filter((o) => o.metadata.name.endsWith('-controller'))).toEqual([]);
  });

  it('passes global.datacenter, server.storage, server.storageClass and the replica counts through', () => {
    const objects = render(
      merge(seedValues, {
        global: { datacenter: 'cluster-01' },
        server: { storage: '20Gi', storageClass: 'fast' },
        meshGateway: { replicas: 3, service: { type: 'NodePort', port: 443, nodePort: 30443 } },
      }),
    );
    const sts = find(objects, 'StatefulSet', 'consul-server');
    expect(flag(commandOf(sts), '--datacenter')).toBe('cluster-01');
    expect(sts.spec?.volumeClaimTemplates?.[0]?.spec).toMatchObject({
      storageClassName: 'fast',
      resources: { requests: { storage: '20Gi' } },
    });
    expect(find(objects, 'Deployment', 'consul-mesh-gateway').spec?.replicas).toBe(3);
    const svc = find(objects, 'Service', 'consul-mesh-gateway');
    expect(svc.spec?.type).toBe('NodePort');
    expect(svc.spec?.ports?.[0]).toMatchObject({ port: 443, nodePort: 30443, targetPort: 'gateway' });
  });

  it('accepts values given with --set, as helm install users type them', () => {
    const objects = render({}, [
      '--set',
      'global.name=consul,global.peering.enabled=true,global.tls.enabled=true,meshGateway.enabled=true',
    ]);
    expect(find(objects, 'Deployment', 'consul-mesh-gateway')).toBeDefined();
  });

  it('renders only flags the meshpeer CLI accepts, for every component', () => {
    const all = render(
      merge(seedValues, { meshGateway: { wanAddress: { static: 'gw.example.com', port: 443 } } }),
    );
    const workloads = all.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');
    expect(workloads.length).toBe(3);
    for (const w of workloads) {
      const command = commandOf(w);
      expect(command[0]).toBe('meshpeer');
      const sub = command[1] ?? '';
      const help = spawnSync(process.execPath, [cli, sub, '--help'], { encoding: 'utf8' });
      expect(help.status, `meshpeer ${sub} --help`).toBe(0);
      for (const f of command.filter((a) => a.startsWith('--'))) {
        expect(help.stdout, `meshpeer ${sub} has no flag ${f}`).toMatch(new RegExp(`\\s${f}[\\s,=<]`));
      }
    }
  });
});

describe('render-time checks', () => {
  it.each(['connectInject.enabled', 'global.tls.enabled', 'meshGateway.enabled'])(
    'global.peering.enabled without %s fails with a message naming it',
    (missing) => {
      const r = template(withValue(seedValues, missing, false));
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(`setting global.peering.enabled to true requires ${missing} to be true`);
      expect(r.stdout).toBe('');
    },
  );

  it('names the same missing value when it is set off with --set', () => {
    const r = template(seedValues, ['--set', 'meshGateway.enabled=false']);
    expect(r.stderr).toContain(
      'setting global.peering.enabled to true requires meshGateway.enabled to be true',
    );
  });

  it('accepts TLS and mesh gateways without peering', () => {
    const objects = render(withValue(seedValues, 'global.peering.enabled', false));
    expect(find(objects, 'Deployment', 'consul-mesh-gateway')).toBeDefined();
  });

  it('refuses peering with no mesh gateway replica', () => {
    const r = template(withValue(seedValues, 'meshGateway.replicas', 0));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(
      'setting global.peering.enabled to true requires meshGateway.replicas to be at least 1',
    );
  });

  it('refuses mesh gateways without connectInject, as consul-k8s does', () => {
    const r = template({ meshGateway: { enabled: true }, connectInject: { enabled: false } });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(
      'setting meshGateway.enabled to true requires connectInject.enabled to be true',
    );
  });

  it('refuses several servers on the single-node embedded store', () => {
    const r = template({ server: { replicas: 3 } });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('setting server.replicas to 3 is not supported yet');
  });

  it('refuses a gateway nodePort unless the Service is a NodePort', () => {
    const r = template(merge(seedValues, { meshGateway: { service: { nodePort: 30443 } } }));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(
      'setting meshGateway.service.nodePort requires meshGateway.service.type to be NodePort',
    );
  });
});

describe('values.schema.json', () => {
  it.each(['global.peering.enabled', 'global.tls.enabled', 'connectInject.enabled', 'meshGateway.enabled'])(
    'rejects a string for the boolean %s and names it',
    (path) => {
      const r = template(seedValues, ['--set-string', `${path}=true`]);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(`'/${path.split('.').join('/')}': got string, want boolean`);
    },
  );

  it('rejects a replica count that is not a number', () => {
    const r = template({}, ['--set-string', 'server.replicas=three']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("'/server/replicas': got string, want integer");
  });

  it('rejects an unknown gateway Service type', () => {
    const r = template(seedValues, ['--set', 'meshGateway.service.type=External']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("'/meshGateway/service/type'");
  });

  it('rejects a global.name that cannot prefix Kubernetes names', () => {
    const r = template(withValue(seedValues, 'global.name', 'Consul_East'));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("'/global/name'");
  });
});
