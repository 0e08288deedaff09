// `helm install` of the chart with server.replicas 3 on etcd into a real kube-apiserver: the API server
// accepts every object (its own validation and defaulting, not just helm's), for an existing etcd and for
// the etcd StatefulSet the chart runs, and `helm upgrade` keeps the etcd certificates. There is no
// kubelet, so the pods never run: etcd-run.test.ts starts the rendered etcd and servers.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HelmCli, type HelmResult, helmCli } from '../support/helm-cli.js';
import { type KubeApiServer, kubectlOk, repoRoot, startKubeApiServer } from '../support/kube-apiserver.js';

const chart = path.join(repoRoot, 'deploy', 'helm', 'meshpeer');
let api: KubeApiServer | undefined;
let scratch = '';
let helm: HelmCli | undefined;

function runHelm(args: string[]): HelmResult {
  return (helm as HelmCli).run(args, { kubeconfig: api?.kubeconfigPath ?? '' });
}

function valuesFile(name: string, values: unknown): string {
  const file = path.join(scratch, `${name}.json`);
  writeFileSync(file, JSON.stringify(values));
  return file;
}

const kc = (): string => api?.kubeconfigPath ?? '';

async function getJson<T>(namespace: string, what: string): Promise<T> {
  return JSON.parse(await kubectlOk(kc(), ['-n', namespace, 'get', what, '-o', 'json'])) as T;
}

interface StatefulSet {
  spec: {
    replicas: number;
    template: { spec: { containers: { command: string[]; env?: { name: string }[] }[] } };
    volumeClaimTemplates?: unknown[];
  };
}

beforeAll(async () => {
  helm = helmCli('meshpeer-helm-etcd-');
  scratch = helm.scratch;
  api = await startKubeApiServer('helm-etcd');
  for (const ns of ['east', 'west']) await kubectlOk(kc(), ['create', 'namespace', ns]);
}, 40 * 60_000);

afterAll(async () => {
  await api?.stop();
  helm?.cleanup();
});

describe('helm install of three servers on etcd into a real API server', () => {
  const deployed = {
    global: { peering: { enabled: true }, tls: { enabled: true }, acls: { manageSystemACLs: true } },
    meshGateway: { enabled: true },
    server: { replicas: 3, etcd: { deploy: { enabled: true } } },
  };

  it('installs the etcd StatefulSet, its Service, Secrets and PodDisruptionBudgets beside three servers', async () => {
    const r = runHelm(['install', 'meshpeer', chart, '-n', 'east', '-f', valuesFile('deployed', deployed)]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      'Store: etcd, shared by 3 servers; the chart runs it as StatefulSet meshpeer-etcd',
    );
    const names = await kubectlOk(kc(), [
      '-n',
      'east',
      'get',
      'statefulset,service,secret,poddisruptionbudget',
      '-o',
      'name',
    ]);
    for (const name of [
      'statefulset.apps/meshpeer-etcd',
      'statefulset.apps/meshpeer-server',
      'service/meshpeer-etcd',
      'secret/meshpeer-etcd-ca',
      'secret/meshpeer-etcd-member',
      'secret/meshpeer-etcd-client',
      'poddisruptionbudget.policy/meshpeer-etcd',
      'poddisruptionbudget.policy/meshpeer-server',
    ]) {
      expect(names).toContain(name);
    }
    const etcd = await getJson<StatefulSet>('east', 'statefulset/meshpeer-etcd');
    expect(etcd.spec.replicas).toBe(3);
    expect(etcd.spec.volumeClaimTemplates).toHaveLength(1);
    const server = await getJson<StatefulSet>('east', 'statefulset/meshpeer-server');
    expect(server.spec.replicas).toBe(3);
    expect(server.spec.volumeClaimTemplates ?? []).toEqual([]);
    expect(server.spec.template.spec.containers[0]?.command).toContain('--advertise-grpc');
  });

  it('keeps the etcd certificates on upgrade, so the members and servers keep trusting each other', async () => {
    const secrets = ['meshpeer-etcd-ca', 'meshpeer-etcd-member', 'meshpeer-etcd-client'];
    const data = () =>
      Promise.all(
        secrets.map((s) => kubectlOk(kc(), ['-n', 'east', 'get', 'secret', s, '-o', 'jsonpath={.data}'])),
      );
    const before = await data();
    expect(before.every((d) => d.length > 100)).toBe(true);
    const r = runHelm(['upgrade', 'meshpeer', chart, '-n', 'east', '-f', valuesFile('deployed', deployed)]);
    expect(r.status, r.stderr).toBe(0);
    expect(await data()).toEqual(before);
  });

  it('installs three servers on an existing etcd, reading its TLS files and password from Secrets', async () => {
    const external = {
      server: {
        replicas: 3,
        etcd: {
          endpoints: ['https://etcd-0.db:2379', 'https://etcd-1.db:2379', 'https://etcd-2.db:2379'],
          tls: { caSecret: 'etcd-tls', certSecret: 'etcd-tls' },
          auth: { username: 'meshpeer', passwordSecret: { name: 'etcd-password' } },
        },
      },
    };
    const r = runHelm([
      'install',
      'meshpeer-west',
      chart,
      '-n',
      'west',
      '-f',
      valuesFile('external', external),
    ]);
    expect(r.status, r.stderr).toBe(0);
    const names = await kubectlOk(kc(), [
      '-n',
      'west',
      'get',
      'statefulset,poddisruptionbudget',
      '-o',
      'name',
    ]);
    expect(names.trim().split('\n').sort()).toEqual([
      'poddisruptionbudget.policy/meshpeer-west-server',
      'statefulset.apps/meshpeer-west-server',
    ]);
    const server = await getJson<StatefulSet>('west', 'statefulset/meshpeer-west-server');
    expect(server.spec.replicas).toBe(3);
    expect(server.spec.template.spec.containers[0]?.command).toContain('--etcd-password-file');
  });

  it('refuses three servers without etcd at install, as at render', () => {
    const r = runHelm(['install', 'single', chart, '-n', 'west', '--set', 'server.replicas=3']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('setting server.replicas to 3 requires server.etcd');
  });
});
