// `helm install` of the chart into a real kube-apiserver, with the seed's values plus ACLs: the API server
// accepts every object (its own validation, not just helm's), the chart's crds/ are installed and
// Established, NOTES are printed, and `helm upgrade` keeps the generated certificates and tokens (the
// chart's lookups). There is no kubelet, so the pods never run: what they do is tested elsewhere.
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HelmCli, type HelmResult, helmCli } from '../support/helm-cli.js';
import { type KubeApiServer, kubectlOk, repoRoot, startKubeApiServer } from '../support/kube-apiserver.js';

const chart = path.join(repoRoot, 'deploy', 'helm', 'meshpeer');
let api: KubeApiServer | undefined;
let scratch = '';
let helm: HelmCli | undefined;
let values = '';

function runHelm(args: string[]): HelmResult {
  return (helm as HelmCli).run(args, { kubeconfig: api?.kubeconfigPath ?? '' });
}

async function secretData(name: string): Promise<string> {
  return kubectlOk(api?.kubeconfigPath ?? '', [
    '-n',
    'mesh',
    'get',
    'secret',
    name,
    '-o',
    'jsonpath={.data}',
  ]);
}

beforeAll(async () => {
  helm = helmCli('meshpeer-helm-install-');
  scratch = helm.scratch;
  values = path.join(scratch, 'values.json');
  writeFileSync(
    values,
    JSON.stringify({
      global: {
        name: 'consul',
        image: 'hashicorp/consul:1.16.0',
        peering: { enabled: true },
        tls: { enabled: true },
        acls: { manageSystemACLs: true },
      },
      meshGateway: { enabled: true },
    }),
  );
  api = await startKubeApiServer('helm-install');
  await kubectlOk(api.kubeconfigPath, ['create', 'namespace', 'mesh']);
}, 40 * 60_000);

afterAll(async () => {
  await api?.stop();
  helm?.cleanup();
});

describe('helm install into a real API server', () => {
  it('installs every object and the CRDs, and prints the NOTES', async () => {
    const r = runHelm(['install', 'meshpeer', chart, '-n', 'mesh', '-f', values]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('NOTES:');
    expect(r.stdout).toContain("Unused: global.image (hashicorp/consul:1.16.0) is consul-k8s's Consul image");
    const kc = api?.kubeconfigPath ?? '';
    await kubectlOk(kc, ['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
    const crds = await kubectlOk(kc, ['get', 'crd', '-o', 'name']);
    expect(crds).toContain('peeringacceptors.consul.hashicorp.com');
    const objects = await kubectlOk(kc, [
      '-n',
      'mesh',
      'get',
      'statefulset,deployment,service,secret,serviceaccount,role,rolebinding',
      '-o',
      'name',
    ]);
    for (const name of [
      'statefulset.apps/consul-server',
      'deployment.apps/consul-controller',
      'deployment.apps/consul-mesh-gateway',
      'service/consul-server',
      'service/consul-mesh-gateway',
      'service/consul-controller-webhook',
      'secret/consul-ca-cert',
      'secret/consul-server-cert',
      'secret/consul-bootstrap-acl-token',
      'secret/consul-controller-acl-token',
      'secret/consul-mesh-gateway-acl-token',
      'secret/consul-controller-webhook',
      'role.rbac.authorization.k8s.io/consul-mesh-gateway',
    ]) {
      expect(objects).toContain(name);
    }
    expect(await kubectlOk(kc, ['get', 'validatingwebhookconfiguration', '-o', 'name'])).toContain(
      'consul-controller-webhook-mesh',
    );
  });

  it('keeps the generated certificates and tokens on upgrade', async () => {
    const names = [
      'consul-ca-cert',
      'consul-server-cert',
      'consul-bootstrap-acl-token',
      'consul-controller-acl-token',
      'consul-controller-webhook',
    ];
    const before = await Promise.all(names.map(secretData));
    const r = runHelm(['upgrade', 'meshpeer', chart, '-n', 'mesh', '-f', values]);
    expect(r.status, r.stderr).toBe(0);
    expect(await Promise.all(names.map(secretData))).toEqual(before);
  });

  it("signs the server certificate with the user's CA from global.tls.caCert/caKey", async () => {
    const kc = api?.kubeconfigPath ?? '';
    await kubectlOk(kc, ['create', 'namespace', 'mesh2']);
    const crt = path.join(scratch, 'ca.crt');
    const key = path.join(scratch, 'ca.key');
    const made = spawnSync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=my-ca',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-keyout',
      key,
      '-out',
      crt,
    ]);
    expect(made.status).toBe(0);
    await kubectlOk(kc, ['-n', 'mesh2', 'create', 'secret', 'tls', 'my-ca', `--cert=${crt}`, `--key=${key}`]);
    const r = runHelm([
      'install',
      'meshpeer',
      chart,
      '-n',
      'mesh2',
      '-f',
      values,
      '--set',
      // Another prefix: the first release's ClusterRole and webhook configuration are cluster-wide.
      'global.name=second,global.tls.caCert.secretName=my-ca,global.tls.caKey.secretName=my-ca',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const serverCert = Buffer.from(
      await kubectlOk(kc, [
        '-n',
        'mesh2',
        'get',
        'secret',
        'second-server-cert',
        '-o',
        'jsonpath={.data.tls\\.crt}',
      ]),
      'base64',
    );
    const ca = new X509Certificate(readFileSync(crt));
    expect(new X509Certificate(serverCert).verify(ca.publicKey)).toBe(true);
    const published = Buffer.from(
      await kubectlOk(kc, [
        '-n',
        'mesh2',
        'get',
        'secret',
        'second-ca-cert',
        '-o',
        'jsonpath={.data.tls\\.crt}',
      ]),
      'base64',
    );
    expect(new X509Certificate(published).fingerprint256).toBe(ca.fingerprint256);
  });
});
