// The CRDs in deploy/crds on a real kube-apiserver: they install, the seed's YAML applies
// unchanged, kubectl shows the short names and printer columns, the API server itself refuses
// invalid resources with a message that names the field, and status is a subresource.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedAcceptor, seedDialer, seedMesh } from '../fixtures/seed.js';
import {
  type KubeApiServer,
  kubectl,
  kubectlOk,
  repoRoot,
  startKubeApiServer,
} from '../support/kube-apiserver.js';

const crdDir = path.join(repoRoot, 'deploy', 'crds');

const kinds = [
  { plural: 'peeringacceptors', short: 'peering-acceptor', peering: true },
  { plural: 'peeringdialers', short: 'peering-dialer', peering: true },
  { plural: 'meshes', short: 'mesh', peering: false },
  { plural: 'exportedservices', short: 'exported-services', peering: false },
  { plural: 'proxydefaults', short: 'proxy-defaults', peering: false },
  { plural: 'serviceintentions', short: 'service-intentions', peering: false },
  { plural: 'serviceresolvers', short: 'service-resolver', peering: false },
];

describe('CRDs on a real kube-apiserver', () => {
  let api: KubeApiServer | undefined;
  let kc = '';

  beforeAll(async () => {
    // Builds kube-apiserver first when it is not cached: minutes, once per machine.
    api = await startKubeApiServer('crds');
    kc = api.kubeconfigPath;
    await kubectlOk(kc, ['apply', '-f', crdDir]);
    await kubectlOk(kc, [
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      ...kinds.map((k) => `crd/${k.plural}.consul.hashicorp.com`),
    ]);
  }, 40 * 60_000);

  afterAll(async () => {
    await api?.stop();
  });

  it('has one CRD file per kind, all installed and Established', async () => {
    expect(readdirSync(crdDir).filter((f) => f.endsWith('.yaml'))).toHaveLength(kinds.length);
    const out = await kubectlOk(kc, [
      'get',
      'crd',
      '-o',
      'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Established")].status}{"\\n"}{end}',
    ]);
    for (const k of kinds) expect(out).toContain(`${k.plural}.consul.hashicorp.com=True`);
  });

  it('applies the seed YAML unchanged', async () => {
    for (const doc of [seedAcceptor, seedDialer, seedMesh]) {
      const r = await kubectl(kc, ['apply', '-f', '-'], doc);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
    const pa = JSON.parse(await kubectlOk(kc, ['get', 'peeringacceptor', 'cluster-02', '-o', 'json']));
    expect(pa.spec).toEqual({
      peer: { secret: { name: 'peering-token', key: 'data', backend: 'kubernetes' } },
    });
    const mesh = JSON.parse(await kubectlOk(kc, ['get', 'mesh', 'mesh', '-o', 'json']));
    expect(mesh.spec).toEqual({ peering: { peerThroughMeshGateways: true } });
  });

  it('answers to the consul-k8s short names', async () => {
    for (const k of kinds) {
      const r = await kubectl(kc, ['get', k.short]);
      expect(r.stderr, k.short).not.toContain('error');
      expect(r.code, k.short).toBe(0);
    }
    const r = await kubectlOk(kc, ['api-resources', '--api-group=consul.hashicorp.com', '--no-headers']);
    for (const k of kinds) expect(r).toMatch(new RegExp(`^${k.plural}\\s+${k.short}\\s`, 'm'));
  });

  it('accepts valid config-entry resources with the consul-k8s field names', async () => {
    const docs = [
      `apiVersion: consul.hashicorp.com/v1alpha1
kind: ExportedServices
metadata:
  name: default
spec:
  services:
    - name: backend
      namespace: default
      consumers:
        - peer: cluster-02
        - samenessGroup: group-a
`,
      `apiVersion: consul.hashicorp.com/v1alpha1
kind: ProxyDefaults
metadata:
  name: global
spec:
  meshGateway:
    mode: local
  config:
    protocol: http
    envoy_prometheus_bind_addr: "0.0.0.0:9102"
    nested: { a: [1, 2, { b: true }] }
`,
      `apiVersion: consul.hashicorp.com/v1alpha1
kind: ServiceIntentions
metadata:
  name: backend
spec:
  destination:
    name: backend
  sources:
    - name: frontend
      peer: cluster-01
      action: allow
      description: frontend in the dialing cluster
    - name: api
      permissions:
        - action: allow
          http:
            pathPrefix: /v1
            methods: [GET]
`,
      `apiVersion: consul.hashicorp.com/v1alpha1
kind: ServiceResolver
metadata:
  name: backend
spec:
  connectTimeout: 15s
  redirect:
    service: backend
    peer: cluster-02
  failover:
    "*":
      targets:
        - service: backend
          peer: cluster-03
        - peer: cluster-04
`,
    ];
    for (const doc of docs) {
      const r = await kubectl(kc, ['apply', '-f', '-'], doc);
      expect(r.stderr, doc).toBe('');
      expect(r.code).toBe(0);
    }
    const pd = JSON.parse(await kubectlOk(kc, ['get', 'proxy-defaults', 'global', '-o', 'json']));
    // spec.config keeps fields the schema does not know.
    expect(pd.spec.config).toEqual({
      protocol: 'http',
      envoy_prometheus_bind_addr: '0.0.0.0:9102',
      nested: { a: [1, 2, { b: true }] },
    });
    const sr = JSON.parse(await kubectlOk(kc, ['get', 'service-resolver', 'backend', '-o', 'json']));
    expect(sr.spec.failover['*'].targets[1]).toEqual({ peer: 'cluster-04' });
  });

  it('prints Synced, Last Synced, Age, and State with imported/exported counts for the peering kinds (one object of each kind exists by now)', async () => {
    for (const k of kinds) {
      const header = (await kubectlOk(kc, ['get', k.short])).split('\n')[0] ?? '';
      const columns = header.trim().split(/\s{2,}/);
      expect(columns, k.short).toEqual(
        k.peering
          ? ['NAME', 'SYNCED', 'LAST SYNCED', 'STATE', 'IMPORTED', 'EXPORTED', 'AGE']
          : ['NAME', 'SYNCED', 'LAST SYNCED', 'AGE'],
      );
    }
  });

  const invalid: { what: string; yaml: string; expect: RegExp[] }[] = [
    {
      what: 'a PeeringAcceptor with backend "vault"',
      yaml: seedAcceptor.replace('name: cluster-02', 'name: bad-backend').replace('"kubernetes"', '"vault"'),
      expect: [/spec\.peer\.secret\.backend/, /Unsupported value: "vault"/, /"kubernetes"/],
    },
    {
      what: 'a PeeringDialer with backend "vault"',
      yaml: seedDialer.replace('name: cluster-01', 'name: bad-backend').replace('"kubernetes"', '"vault"'),
      expect: [/spec\.peer\.secret\.backend/, /Unsupported value: "vault"/],
    },
    {
      what: 'a PeeringAcceptor without a secret key',
      yaml: seedAcceptor.replace('name: cluster-02', 'name: no-key').replace('      key: "data"\n', ''),
      expect: [/spec\.peer\.secret\.key: Required value/],
    },
    {
      what: 'a Mesh named "other"',
      yaml: seedMesh.replace('name: mesh', 'name: other'),
      expect: [/metadata\.name/, /must be named "mesh"/],
    },
    {
      what: 'an ExportedServices named "x"',
      yaml: `apiVersion: consul.hashicorp.com/v1alpha1
kind: ExportedServices
metadata:
  name: x
spec:
  services: []
`,
      expect: [/metadata\.name/, /must be named "default"/],
    },
    {
      what: 'a consumer with both peer and partition',
      yaml: `apiVersion: consul.hashicorp.com/v1alpha1
kind: ExportedServices
metadata:
  name: default
spec:
  services:
    - name: backend
      consumers:
        - peer: cluster-02
        - peer: cluster-03
          partition: part-1
`,
      expect: [/spec\.services\[0\]\.consumers\[1\]/, /exactly one of peer, partition or samenessGroup/],
    },
    {
      what: 'a consumer with none of peer, partition, samenessGroup',
      yaml: `apiVersion: consul.hashicorp.com/v1alpha1
kind: ExportedServices
metadata:
  name: default
spec:
  services:
    - name: backend
      consumers:
        - peer: ""
`,
      expect: [/spec\.services\[0\]\.consumers\[0\]/, /exactly one of peer, partition or samenessGroup/],
    },
    {
      what: 'meshGateway.mode "bogus"',
      yaml: `apiVersion: consul.hashicorp.com/v1alpha1
kind: ProxyDefaults
metadata:
  name: global
spec:
  meshGateway:
    mode: bogus
`,
      expect: [/spec\.meshGateway\.mode/, /Unsupported value: "bogus"/, /"remote", "local", "none", ""/],
    },
    {
      what: 'a ProxyDefaults not named "global"',
      yaml: `apiVersion: consul.hashicorp.com/v1alpha1
kind: ProxyDefaults
metadata:
  name: defaults
spec:
  meshGateway:
    mode: remote
`,
      expect: [/metadata\.name/, /must be named "global"/],
    },
    {
      what: 'an intention source with both peer and samenessGroup',
      yaml: `apiVersion: consul.hashicorp.com/v1alpha1
kind: ServiceIntentions
metadata:
  name: web
spec:
  destination:
    name: web
  sources:
    - name: frontend
      peer: cluster-01
      samenessGroup: group-a
      action: allow
`,
      expect: [/spec\.sources\[0\]/, /at most one of peer, partition or samenessGroup/],
    },
  ];

  for (const c of invalid) {
    it(`refuses ${c.what}, naming the field`, async () => {
      const r = await kubectl(kc, ['apply', '-f', '-'], c.yaml);
      expect(r.code).not.toBe(0);
      for (const re of c.expect) expect(r.stderr).toMatch(re);
    });
  }

  it('updates status only through the status subresource', async () => {
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const status = {
      conditions: [{ type: 'Synced', status: 'True', reason: '', message: '', lastTransitionTime: now }],
      lastSyncedTime: now,
      latestPeeringVersion: 2,
      peeringState: 'ACTIVE',
      secret: { name: 'peering-token', key: 'data', backend: 'kubernetes', latestHash: 'abc123' },
    };
    // Without the subresource, status in a patch is dropped.
    await kubectlOk(kc, [
      'patch',
      'peering-acceptor',
      'cluster-02',
      '--type=merge',
      '-p',
      JSON.stringify({ status }),
    ]);
    let pa = JSON.parse(await kubectlOk(kc, ['get', 'peering-acceptor', 'cluster-02', '-o', 'json']));
    expect(pa.status).toBeUndefined();

    await kubectlOk(kc, [
      'patch',
      'peering-acceptor',
      'cluster-02',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status }),
    ]);
    pa = JSON.parse(await kubectlOk(kc, ['get', 'peering-acceptor', 'cluster-02', '-o', 'json']));
    expect(pa.status).toEqual(status);

    const table = await kubectlOk(kc, ['get', 'peering-acceptor', 'cluster-02', '--no-headers']);
    expect(
      table
        .trim()
        .split(/\s{2,}/)
        .slice(0, 4),
    ).toEqual(['cluster-02', 'True', expect.any(String), 'ACTIVE']);

    // The dialer's status also records the Secret's resourceVersion.
    await kubectlOk(kc, [
      'patch',
      'peering-dialer',
      'cluster-01',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { secret: { name: 'peering-token', key: 'data', resourceVersion: '42' } } }),
    ]);
    const pd = JSON.parse(await kubectlOk(kc, ['get', 'peering-dialer', 'cluster-01', '-o', 'json']));
    expect(pd.status.secret.resourceVersion).toBe('42');

    // Config-entry kinds have a status subresource too.
    await kubectlOk(kc, [
      'patch',
      'mesh',
      'mesh',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { lastSyncedTime: now, conditions: [{ type: 'Synced', status: 'False' }] } }),
    ]);
    const mesh = await kubectlOk(kc, ['get', 'mesh', 'mesh', '--no-headers']);
    expect(mesh.trim().split(/\s{2,}/)[1]).toBe('False');
  });
});
