// The Helm chart in deploy/helm/meshpeer, exercised through the real helm binary: lint, rendering
// with consul-k8s-style values, and the render-time checks that refuse combinations that cannot work.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

import {
  chartDir,
  cli,
  commandOf,
  containerOf,
  defaultImage,
  find,
  flag,
  ignoredIn,
  type K8sObject,
  merge,
  notes,
  packageVersion,
  render,
  repoRoot,
  runHelm,
  seedValues,
  template,
  useHelm,
  valuesFile,
  withValue,
  workloads,
} from './support.js';

useHelm();

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
        // connectInject.enabled: the sidecar injector, as in consul-k8s.
        'MutatingWebhookConfiguration/consul-controller-webhook-mesh',
        'Role/consul-mesh-gateway',
        'Secret/consul-controller-webhook',
        'Service/consul-controller-webhook',
        'ValidatingWebhookConfiguration/consul-controller-webhook-mesh',
        'RoleBinding/consul-mesh-gateway',
        'Secret/consul-ca-cert',
        'Secret/consul-server-cert',
        'Service/consul-mesh-gateway',
        'Service/consul-server',
        'ServiceAccount/consul-controller',
        'ServiceAccount/consul-mesh-gateway',
        'StatefulSet/consul-server',
      ].sort(),
    );
  });

  it("runs every container from meshpeer's image of the package's version, never the Consul image in global.image", () => {
    const images = workloads(objects).flatMap((w) => w.spec?.template?.spec.containers.map((c) => c.image));
    expect(images).toHaveLength(3);
    for (const image of images) expect(image).toBe(defaultImage);
  });

  it('runs the server as a StatefulSet with its data directory on a persistent volume', () => {
    const sts = find(objects, 'StatefulSet', 'consul-server');
    expect(sts.metadata.namespace).toBe('mesh');
    expect(sts.spec?.serviceName).toBe('consul-server');
    expect(sts.spec?.replicas).toBe(1);

    const command = commandOf(sts);
    expect(command.slice(0, 2)).toEqual(['meshpeer', 'server']);
    // global.tls.enabled: HTTPS on 8501, as Consul (tls-acl.test.ts checks the certificates).
    expect(flag(command, '--http-addr')).toBe('0.0.0.0:8501');
    expect(flag(command, '--grpc-addr')).toBe('0.0.0.0:8502');
    expect(flag(command, '--data-dir')).toBe('/data/server');
    expect(flag(command, '--datacenter')).toBe('dc1');

    const container = containerOf(sts);
    expect(container.ports?.map((p) => [p.name, p.containerPort])).toEqual([
      ['http', 8501],
      ['grpc', 8502],
    ]);
    expect(container.volumeMounts).toContainEqual({ name: 'data', mountPath: '/data' });
    const claim = sts.spec?.volumeClaimTemplates?.[0];
    expect(claim?.metadata.name).toBe('data');
    expect(claim?.spec.resources.requests.storage).toBe('10Gi');
  });

  it('exposes the server on https 8501 and grpc 8502 through a Service that selects its pods', () => {
    const svc = find(objects, 'Service', 'consul-server');
    expect(svc.spec?.ports?.map((p) => [p.name, p.port])).toEqual([
      ['http', 8501],
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
      'https://consul-server:8501',
      '--leader-elect',
      '--datacenter',
      'dc1',
      '--webhook-addr',
      '0.0.0.0:9443',
      '--webhook-tls-cert',
      '/meshpeer/webhook/tls.crt',
      '--webhook-tls-key',
      '/meshpeer/webhook/tls.key',
      // connectInject.enabled injects sidecars, as in consul-k8s (sidecar-injector.test.ts checks these).
      '--inject',
      '--inject-image',
      defaultImage,
      '--inject-server',
      'https://consul-server.mesh.svc:8501',
      '--inject-ca-file',
      '/meshpeer/tls/ca/tls.crt',
      '--inject-allow-namespaces',
      '*',
      '--inject-deny-namespaces',
      '',
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
    expect(flag(command, '--server')).toBe('https://consul-server:8501');
    expect(flag(command, '--listen')).toBe('0.0.0.0:8443');
    // It registers itself, one ID per pod: the pod IP, and its Service's address as WAN (source Service).
    expect(command).toContain('--register');
    expect(flag(command, '--service-id')).toBe('mesh-gateway-$(POD_NAME)');
    expect(flag(command, '--advertise')).toBe('$(POD_IP):8443');
    expect(flag(command, '--advertise-service')).toBe('mesh/consul-mesh-gateway');
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
    const clusterScoped = [
      'ClusterRole',
      'ClusterRoleBinding',
      'ValidatingWebhookConfiguration',
      'MutatingWebhookConfiguration',
    ];
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
    expect(containerOf(find(objects, 'StatefulSet', 'prod-meshpeer-server')).image).toBe(defaultImage);
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

describe('image', () => {
  it("keeps the chart's appVersion (the default image tag) at the package's version", () => {
    const chart = readFileSync(join(chartDir, 'Chart.yaml'), 'utf8');
    expect(chart).toMatch(new RegExp(`^appVersion: "${packageVersion.replaceAll('.', '\\.')}"$`, 'm'));
  });

  it('runs every container from global.imageMeshpeer when it is set', () => {
    const objects = render(withValue(seedValues, 'global.imageMeshpeer', 'registry.example/mp:dev'));
    const images = workloads(objects).flatMap((w) => w.spec?.template?.spec.containers.map((c) => c.image));
    expect(images).toEqual(['registry.example/mp:dev', 'registry.example/mp:dev', 'registry.example/mp:dev']);
  });

  it("with the seed's values, every container runs meshpeer's image and only flags its CLI has", () => {
    const objects = render(seedValues);
    const all = workloads(objects);
    expect(all.map((w) => w.metadata.name).sort()).toEqual([
      'consul-controller',
      'consul-mesh-gateway',
      'consul-server',
    ]);
    for (const w of all) {
      for (const c of w.spec?.template?.spec.containers ?? []) {
        expect(c.image, `${w.metadata.name}/${c.name}`).toBe(defaultImage);
        const command = [...(c.command ?? []), ...(c.args ?? [])];
        expect(command[0]).toBe('meshpeer');
        const help = spawnSync(process.execPath, [cli, command[1] ?? '', '--help'], { encoding: 'utf8' });
        expect(help.status, `meshpeer ${command[1]} --help`).toBe(0);
        for (const f of command.filter((a) => a.startsWith('--'))) {
          expect(help.stdout, `meshpeer ${command[1]} has no flag ${f}`).toMatch(
            new RegExp(`\\s${f}[\\s,=<]`),
          );
        }
      }
    }
  });
});

describe('NOTES', () => {
  it('are the meshpeer.notes helper, which these tests render', () => {
    expect(readFileSync(join(chartDir, 'templates', 'NOTES.txt'), 'utf8')).toBe(
      '{{- include "meshpeer.notes" . }}\n',
    );
  });

  it("says that the seed's global.image (Consul's) is unused, and which image runs", () => {
    const text = notes(seedValues);
    expect(text).toContain(`Image: ${defaultImage} (server, controller, mesh gateway).`);
    expect(text).toContain("Unused: global.image (hashicorp/consul:1.16.0) is consul-k8s's Consul image");
  });

  it('lists no ignored value for the default values or the seed values', () => {
    expect(ignoredIn(notes({}))).toEqual([]);
    expect(ignoredIn(notes(seedValues))).toEqual([]);
    expect(notes({})).not.toContain('Unused:');
  });

  it('lists every consul-k8s value the chart does not implement by its path', () => {
    const text = notes(
      merge(seedValues, {
        global: { gossipEncryption: { autoGenerate: true }, logLevel: 'debug' },
        ui: { enabled: true, service: { type: 'LoadBalancer' } },
        server: { exposeGossipAndRPCPorts: true, replicas: 1 },
        syncCatalog: { enabled: true },
      }),
    );
    expect(ignoredIn(text)).toEqual([
      'global.gossipEncryption',
      'global.logLevel',
      'server.exposeGossipAndRPCPorts',
      'syncCatalog',
      'ui',
    ]);
  });
});

describe('CRDs', () => {
  const source = join(repoRoot, 'deploy', 'crds');
  const inChart = join(chartDir, 'crds');

  it('ships in the chart exactly the CRDs of deploy/crds (scripts/chart-crds.sh generates them)', () => {
    expect(readdirSync(inChart).sort()).toEqual(readdirSync(source).sort());
    for (const file of readdirSync(source)) {
      const copy = readFileSync(join(inChart, file), 'utf8');
      expect(copy.slice(copy.indexOf('\n') + 1), file).toBe(readFileSync(join(source, file), 'utf8'));
    }
    const check = spawnSync('bash', [join(repoRoot, 'scripts', 'chart-crds.sh'), '--check'], {
      encoding: 'utf8',
    });
    expect(check.status, check.stderr).toBe(0);
  });

  it('installs them with the chart (helm template --include-crds)', () => {
    const objects = render(seedValues, ['--include-crds']);
    const crds = objects.filter((o) => o.kind === 'CustomResourceDefinition').map((o) => o.metadata.name);
    expect(crds.sort()).toEqual([
      'exportedservices.consul.hashicorp.com',
      'meshes.consul.hashicorp.com',
      'peeringacceptors.consul.hashicorp.com',
      'peeringdialers.consul.hashicorp.com',
      'proxydefaults.consul.hashicorp.com',
      'serviceintentions.consul.hashicorp.com',
      'serviceresolvers.consul.hashicorp.com',
    ]);
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

  it('refuses several servers on the single-node embedded store (etcd.test.ts: with etcd)', () => {
    const r = template({ server: { replicas: 3 } });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('setting server.replicas to 3 requires server.etcd');
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
