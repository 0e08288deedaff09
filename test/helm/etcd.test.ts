// server.replicas above 1 on an etcd store (server.etcd): what the chart renders with an existing etcd
// (server.etcd.endpoints) and with the etcd StatefulSet it runs itself (server.etcd.deploy), and the
// render-time checks. etcd-run.test.ts starts the rendered etcd and servers; etcd-apply.test.ts sends
// the rendered objects to a real kube-apiserver.
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  cli,
  commandOf,
  containerOf,
  find,
  flag,
  ignoredIn,
  type K8sObject,
  merge,
  notes,
  render,
  seedValues,
  template,
  useHelm,
  type Values,
} from './support.js';

useHelm();

const external: Values = {
  server: {
    replicas: 3,
    etcd: {
      endpoints: ['https://etcd-a.db:2379', 'https://etcd-b.db:2379', 'https://etcd-c.db:2379'],
      prefix: '/meshpeer/east/',
      tls: { caSecret: 'etcd-ca', certSecret: 'etcd-client' },
      auth: { username: 'meshpeer', passwordSecret: { name: 'etcd-password', key: 'pw' } },
    },
  },
};
const deployed: Values = { server: { replicas: 3, etcd: { deploy: { enabled: true } } } };

/** The fields of these objects that support.ts's K8sObject leaves out. */
interface Extra {
  spec: {
    podManagementPolicy?: string;
    publishNotReadyAddresses?: boolean;
    maxUnavailable?: number;
    selector: { matchLabels: Record<string, string> };
    template: {
      spec: {
        volumes?: {
          name: string;
          secret?: { secretName: string; items?: { key: string; path: string }[] };
          projected?: { sources: { secret: { name: string; items: { key: string; path: string }[] } }[] };
        }[];
        affinity?: unknown;
      };
    };
  };
}
const extra = (o: K8sObject): Extra => o as unknown as Extra;

/** Where the pod finds `file`: the Secret and key of the volume mounted at its directory. */
function secretKeyOf(workload: K8sObject, file: string): { secret: string; key: string } {
  const mount = containerOf(workload).volumeMounts?.find((m) => file.startsWith(`${m.mountPath}/`));
  if (!mount) throw new Error(`nothing is mounted where ${file} is`);
  const volume = extra(workload).spec.template.spec.volumes?.find((v) => v.name === mount.name);
  const path = file.slice(mount.mountPath.length + 1);
  if (!volume?.secret) throw new Error(`volume ${mount.name} is not a Secret`);
  // A Secret volume without items holds every key of the Secret under its own name.
  const items = volume.secret.items ?? [{ key: path, path }];
  const item = items.find((i) => i.path === path);
  if (!item) throw new Error(`volume ${mount.name} has no ${path}`);
  return { secret: volume.secret.secretName, key: item.key };
}

function secretCert(objects: K8sObject[], name: string, key: string): X509Certificate {
  const data = find(objects, 'Secret', name).data?.[key];
  if (data === undefined) throw new Error(`Secret ${name} has no ${key}`);
  return new X509Certificate(Buffer.from(data, 'base64'));
}

function expectOnlyKnownFlags(command: string[]): void {
  const help = spawnSync(process.execPath, [cli, 'server', '--help'], { encoding: 'utf8' });
  expect(help.status).toBe(0);
  for (const f of command.filter((a) => a.startsWith('--'))) {
    expect(help.stdout, `meshpeer server has no flag ${f}`).toMatch(new RegExp(`\\s${f}[\\s,=<]`));
  }
}

function expectServerPdb(objects: K8sObject[], name: string): void {
  const pdb = extra(find(objects, 'PodDisruptionBudget', name));
  const sts = find(objects, 'StatefulSet', name);
  expect(pdb.spec.maxUnavailable).toBe(1);
  expect(pdb.spec.selector.matchLabels).toEqual(sts.spec?.selector?.matchLabels);
}

describe('server.replicas 3 with an existing etcd (server.etcd.endpoints)', () => {
  const objects = (): K8sObject[] => render(external);

  it('runs three servers on the etcd store, with its TLS files, user, password file and prefix', () => {
    const all = objects();
    const sts = find(all, 'StatefulSet', 'test-meshpeer-server');
    expect(sts.spec?.replicas).toBe(3);
    const command = commandOf(sts);
    expect(flag(command, '--store')).toBe('etcd');
    expect(flag(command, '--etcd-endpoints')).toBe(
      'https://etcd-a.db:2379,https://etcd-b.db:2379,https://etcd-c.db:2379',
    );
    expect(flag(command, '--etcd-prefix')).toBe('/meshpeer/east/');
    expect(flag(command, '--etcd-username')).toBe('meshpeer');
    // Each file flag names a file of the Secret the values say.
    const files: [string, string, string][] = [
      ['--etcd-ca-file', 'etcd-ca', 'ca.crt'],
      ['--etcd-cert-file', 'etcd-client', 'tls.crt'],
      ['--etcd-key-file', 'etcd-client', 'tls.key'],
      ['--etcd-password-file', 'etcd-password', 'pw'],
    ];
    for (const [name, secret, key] of files) {
      expect(secretKeyOf(sts, flag(command, name) ?? ''), name).toEqual({ secret, key });
    }
    expectOnlyKnownFlags(command);
  });

  it('gives each server its own pod IP to put in peering tokens', () => {
    const sts = find(objects(), 'StatefulSet', 'test-meshpeer-server');
    expect(flag(commandOf(sts), '--advertise-grpc')).toBe('$(POD_IP):8502');
    expect(containerOf(sts).env).toContainEqual({
      name: 'POD_IP',
      valueFrom: { fieldRef: { fieldPath: 'status.podIP' } },
    });
  });

  it('keeps no state on disk: no --data-dir, no volume claim, no /data mount', () => {
    const sts = find(objects(), 'StatefulSet', 'test-meshpeer-server');
    expect(commandOf(sts)).not.toContain('--data-dir');
    expect(sts.spec?.volumeClaimTemplates).toBeUndefined();
    expect(containerOf(sts).volumeMounts?.map((m) => m.mountPath)).not.toContain('/data');
  });

  it('lets voluntary disruptions take one server at a time and spreads the servers over nodes', () => {
    const all = objects();
    expectServerPdb(all, 'test-meshpeer-server');
    expect(extra(find(all, 'StatefulSet', 'test-meshpeer-server')).spec.template.spec.affinity).toBeDefined();
  });

  it('renders no etcd of its own', () => {
    expect(objects().filter((o) => o.metadata.name.includes('etcd'))).toEqual([]);
  });

  it('passes plain http:// endpoints alone, with no TLS or password files', () => {
    const sts = find(
      render({ server: { replicas: 3, etcd: { endpoints: ['http://etcd:2379'] } } }),
      'StatefulSet',
      'test-meshpeer-server',
    );
    const command = commandOf(sts);
    expect(command.filter((a) => a.startsWith('--etcd-'))).toEqual(['--etcd-endpoints']);
    expect(containerOf(sts).volumeMounts).toBeUndefined();
  });

  it('keeps TLS to the clients and ACLs as they were, beside the etcd store', () => {
    const all = render(merge(merge(seedValues, { global: { acls: { manageSystemACLs: true } } }), external));
    const sts = find(all, 'StatefulSet', 'consul-server');
    const command = commandOf(sts);
    expect(flag(command, '--http-tls-cert')).toBe('/meshpeer/tls/server/tls.crt');
    expect(command).toContain('--acl-enabled');
    expect(containerOf(sts).env?.map((e) => e.name)).toEqual([
      'POD_IP',
      'MESHPEER_ACL_INITIAL_MANAGEMENT_TOKEN',
    ]);
    expect(secretKeyOf(sts, '/meshpeer/tls/server/tls.crt')).toEqual({
      secret: 'consul-server-cert',
      key: 'tls.crt',
    });
    expectOnlyKnownFlags(command);
  });

  it('reports none of its values as ignored, and says in NOTES where the state is', () => {
    const text = notes(external);
    expect(ignoredIn(text)).toEqual([]);
    expect(text).toContain(
      'Store: etcd, shared by 3 servers at https://etcd-a.db:2379, https://etcd-b.db:2379, https://etcd-c.db:2379.',
    );
    expect(text).toContain('server.storage and server.storageClass are unused');
  });
});

describe('server.replicas 3 with the etcd the chart runs (server.etcd.deploy.enabled)', () => {
  const objects = (values: Values = deployed): K8sObject[] => render(values);
  const memberHost = (i: number) => `test-meshpeer-etcd-${i}.test-meshpeer-etcd.mesh.svc`;

  it('renders a StatefulSet of three etcd members behind a headless Service that publishes them before they are ready', () => {
    const all = objects();
    const etcd = find(all, 'StatefulSet', 'test-meshpeer-etcd');
    expect(etcd.spec?.replicas).toBe(3);
    expect(etcd.spec?.serviceName).toBe('test-meshpeer-etcd');
    expect(extra(etcd).spec.podManagementPolicy).toBe('Parallel');
    expect(containerOf(etcd).image).toBe('registry.k8s.io/etcd:3.7.0-0');
    const svc = find(all, 'Service', 'test-meshpeer-etcd');
    expect(svc.spec?.clusterIP).toBe('None');
    expect(extra(svc).spec.publishNotReadyAddresses).toBe(true);
    expect(svc.spec?.ports?.map((p) => [p.name, p.port])).toEqual([
      ['client', 2379],
      ['peer', 2380],
    ]);
    expect(etcd.spec?.template?.metadata.labels).toMatchObject(svc.spec?.selector ?? { missing: 'selector' });
    // Its pods are not the servers' pods.
    const server = find(all, 'StatefulSet', 'test-meshpeer-server');
    expect(etcd.spec?.selector?.matchLabels).not.toEqual(server.spec?.selector?.matchLabels);
    const claim = etcd.spec?.volumeClaimTemplates?.[0];
    expect(claim?.spec.resources.requests.storage).toBe('10Gi');
    expect(containerOf(etcd).volumeMounts).toContainEqual({ name: 'data', mountPath: '/var/lib/etcd' });
  });

  it("lists every member in --initial-cluster by its pod's stable DNS name, as each member advertises itself", () => {
    const command = commandOf(find(objects(), 'StatefulSet', 'test-meshpeer-etcd'));
    const value = (name: string) =>
      command.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1) ?? `(no ${name})`;
    expect(value('--initial-cluster')).toBe(
      [0, 1, 2].map((i) => `test-meshpeer-etcd-${i}=https://${memberHost(i)}:2380`).join(','),
    );
    expect(value('--name')).toBe('$(POD_NAME)');
    expect(value('--initial-advertise-peer-urls')).toBe(
      'https://$(POD_NAME).test-meshpeer-etcd.mesh.svc:2380',
    );
    expect(value('--advertise-client-urls')).toBe('https://$(POD_NAME).test-meshpeer-etcd.mesh.svc:2379');
    expect(value('--initial-cluster-state')).toBe('new');
    expect(command).toContain('--client-cert-auth');
    expect(command).toContain('--peer-client-cert-auth');
  });

  it('points the servers at every member, with the client certificate the members accept', () => {
    const all = objects();
    const sts = find(all, 'StatefulSet', 'test-meshpeer-server');
    expect(sts.spec?.replicas).toBe(3);
    const command = commandOf(sts);
    expect(flag(command, '--store')).toBe('etcd');
    expect(flag(command, '--etcd-endpoints')).toBe(
      [0, 1, 2].map((i) => `https://${memberHost(i)}:2379`).join(','),
    );
    expect(flag(command, '--advertise-grpc')).toBe('$(POD_IP):8502');
    expect(command).not.toContain('--data-dir');
    expect(command).not.toContain('--etcd-username');
    expect(sts.spec?.volumeClaimTemplates).toBeUndefined();
    expectOnlyKnownFlags(command);

    const ca = secretKeyOf(sts, flag(command, '--etcd-ca-file') ?? '');
    const cert = secretKeyOf(sts, flag(command, '--etcd-cert-file') ?? '');
    expect(ca).toEqual({ secret: 'test-meshpeer-etcd-ca', key: 'ca.crt' });
    expect(cert).toEqual({ secret: 'test-meshpeer-etcd-client', key: 'tls.crt' });
    const caCert = secretCert(all, ca.secret, ca.key);
    const client = secretCert(all, cert.secret, cert.key);
    expect(client.verify(caCert.publicKey)).toBe(true);
    expect(client.keyUsage).toContain('1.3.6.1.5.5.7.3.2'); // clientAuth
  });

  it("gives the members a certificate of the same CA that names every member's host (client and peer)", () => {
    const all = objects();
    const etcd = find(all, 'StatefulSet', 'test-meshpeer-etcd');
    const projected = extra(etcd).spec.template.spec.volumes?.find((v) => v.name === 'tls')?.projected;
    const files = new Map<string, { secret: string; key: string }>();
    for (const source of projected?.sources ?? []) {
      for (const item of source.secret.items)
        files.set(item.path, { secret: source.secret.name, key: item.key });
    }
    expect([...files.keys()].sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    const command = commandOf(etcd);
    for (const f of ['--trusted-ca-file', '--cert-file', '--key-file', '--peer-trusted-ca-file']) {
      expect(command.find((a) => a.startsWith(`${f}=`))).toMatch(/^--[a-z-]+=\/etc\/etcd\/tls\/[a-z.]+$/);
    }
    const at = (path: string) => files.get(path) ?? { secret: '', key: '' };
    const caCert = secretCert(all, at('ca.crt').secret, at('ca.crt').key);
    const member = secretCert(all, at('tls.crt').secret, at('tls.crt').key);
    expect(caCert.ca).toBe(true);
    expect(member.verify(caCert.publicKey)).toBe(true);
    for (const i of [0, 1, 2]) expect(member.checkHost(memberHost(i)), memberHost(i)).toBeDefined();
    expect(member.checkHost('test-meshpeer-server-0.test-meshpeer-server.mesh.svc')).toBeUndefined();
    // Server certificate on the client and peer ports, client certificate towards the other members.
    expect(member.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']));
    expect(find(all, 'Secret', at('tls.key').secret).type).toBe('kubernetes.io/tls');
  });

  it('probes health on the plain metrics port, and keeps quorum through disruptions', () => {
    const all = objects();
    const etcd = find(all, 'StatefulSet', 'test-meshpeer-etcd');
    const command = commandOf(etcd);
    expect(command).toContain('--listen-metrics-urls=http://0.0.0.0:2381');
    expect(containerOf(etcd).ports?.find((p) => p.name === 'metrics')?.containerPort).toBe(2381);
    const pdb = extra(find(all, 'PodDisruptionBudget', 'test-meshpeer-etcd'));
    expect(pdb.spec.maxUnavailable).toBe(1);
    expect(pdb.spec.selector.matchLabels).toEqual(etcd.spec?.selector?.matchLabels);
    expectServerPdb(all, 'test-meshpeer-server');
  });

  it('takes the member count, image, storage and resources from server.etcd.deploy', () => {
    const all = objects(
      merge(deployed, {
        server: {
          etcd: {
            deploy: {
              replicas: 5,
              image: 'mirror.example/etcd:3.6.1',
              storage: '2Gi',
              storageClass: 'ssd',
              resources: { requests: { cpu: '1' } },
            },
          },
        },
      }),
    );
    const etcd = find(all, 'StatefulSet', 'test-meshpeer-etcd');
    expect(etcd.spec?.replicas).toBe(5);
    expect(containerOf(etcd).image).toBe('mirror.example/etcd:3.6.1');
    expect(etcd.spec?.volumeClaimTemplates?.[0]?.spec).toMatchObject({
      storageClassName: 'ssd',
      resources: { requests: { storage: '2Gi' } },
    });
    expect((containerOf(etcd) as unknown as { resources: unknown }).resources).toMatchObject({
      requests: { cpu: '1' },
    });
    const initial = commandOf(etcd).find((a) => a.startsWith('--initial-cluster='));
    expect(initial?.split(',')).toHaveLength(5);
    const endpoints = flag(commandOf(find(all, 'StatefulSet', 'test-meshpeer-server')), '--etcd-endpoints');
    expect(endpoints?.split(',')).toEqual([0, 1, 2, 3, 4].map((i) => `https://${memberHost(i)}:2379`));
  });

  it('runs one server on the etcd store too, without a server PodDisruptionBudget', () => {
    const all = objects(merge(deployed, { server: { replicas: 1 } }));
    expect(flag(commandOf(find(all, 'StatefulSet', 'test-meshpeer-server')), '--store')).toBe('etcd');
    expect(all.filter((o) => o.kind === 'PodDisruptionBudget').map((o) => o.metadata.name)).toEqual([
      'test-meshpeer-etcd',
    ]);
  });

  it('reports none of its values as ignored, and names the etcd StatefulSet in NOTES', () => {
    const text = notes(deployed);
    expect(ignoredIn(text)).toEqual([]);
    expect(text).toContain(
      'Store: etcd, shared by 3 servers; the chart runs it as StatefulSet test-meshpeer-etcd (3 members, TLS).',
    );
  });
});

describe('the single server on SQLite stays the default', () => {
  it('renders no etcd, no PodDisruptionBudget and no etcd flag with the default values', () => {
    const all = render({});
    expect(all.filter((o) => o.metadata.name.includes('etcd') || o.kind === 'PodDisruptionBudget')).toEqual(
      [],
    );
    const command = commandOf(find(all, 'StatefulSet', 'test-meshpeer-server'));
    expect(flag(command, '--data-dir')).toBe('/data/server');
    expect(
      command.filter((a) => a.startsWith('--etcd') || a === '--store' || a === '--advertise-grpc'),
    ).toEqual([]);
    expect(notes({})).not.toContain('Store: etcd');
  });
});

describe('render-time checks of server.replicas and server.etcd', () => {
  const fails = (values: Values, extraArgs: string[] = []) => {
    const r = template(values, extraArgs);
    expect(r.status, r.stdout.slice(0, 200)).not.toBe(0);
    expect(r.stdout).toBe('');
    return r.stderr;
  };

  it('refuses server.replicas 3 without etcd, naming the values that would make it work', () => {
    expect(fails({ server: { replicas: 3 } })).toContain(
      'setting server.replicas to 3 requires server.etcd: without it each server keeps its state in its own embedded SQLite file; set server.etcd.endpoints (an existing etcd) or server.etcd.deploy.enabled (an etcd the chart runs), or server.replicas to 1',
    );
    expect(fails({}, ['--set', 'server.replicas=2'])).toContain(
      'setting server.replicas to 2 requires server.etcd',
    );
  });

  it('refuses both an existing etcd and one of its own', () => {
    expect(fails(merge(external, deployed))).toContain(
      'set either server.etcd.endpoints (an existing etcd) or server.etcd.deploy.enabled (an etcd the chart runs), not both',
    );
  });

  it('refuses endpoints that mix http:// and https://', () => {
    expect(fails({ server: { etcd: { endpoints: ['https://a:2379', 'http://b:2379'] } } })).toContain(
      'server.etcd.endpoints must all be http:// or all https:// (got https://a:2379, http://b:2379)',
    );
  });

  it('refuses TLS Secrets for http:// endpoints', () => {
    expect(fails({ server: { etcd: { endpoints: ['http://a:2379'], tls: { caSecret: 'ca' } } } })).toContain(
      'server.etcd.tls needs https:// server.etcd.endpoints',
    );
  });

  it('refuses a username without its password Secret, and the reverse', () => {
    expect(
      fails({ server: { etcd: { endpoints: ['https://a:2379'], auth: { username: 'meshpeer' } } } }),
    ).toContain('setting server.etcd.auth.username requires server.etcd.auth.passwordSecret.name');
    expect(
      fails({
        server: { etcd: { endpoints: ['https://a:2379'], auth: { passwordSecret: { name: 'pw' } } } },
      }),
    ).toContain('setting server.etcd.auth.passwordSecret.name requires server.etcd.auth.username');
  });

  it('refuses TLS or auth values for the etcd the chart runs, which has its own certificates', () => {
    expect(fails(merge(deployed, { server: { etcd: { tls: { caSecret: 'ca' } } } }))).toContain(
      'server.etcd.tls and server.etcd.auth are for server.etcd.endpoints',
    );
  });

  it('refuses etcd settings without an etcd store', () => {
    expect(fails({ server: { etcd: { prefix: '/x/' } } })).toContain(
      'server.etcd.tls, server.etcd.auth and server.etcd.prefix configure the etcd store: set server.etcd.endpoints or server.etcd.deploy.enabled too',
    );
  });

  it('refuses an even number of etcd members', () => {
    expect(fails(merge(deployed, { server: { etcd: { deploy: { replicas: 4 } } } }))).toContain(
      'server.etcd.deploy.replicas must be odd (1, 3, 5 or 7), got 4',
    );
  });

  it('checks the types and shapes of server.etcd in values.schema.json', () => {
    expect(fails({ server: { etcd: { endpoints: ['etcd-0:2379'] } } })).toContain(
      "'/server/etcd/endpoints/0'",
    );
    expect(fails({ server: { etcd: { endpoints: ['https://a:2379'], prefix: 'meshpeer' } } })).toContain(
      "'/server/etcd/prefix'",
    );
    expect(fails(deployed, ['--set-string', 'server.etcd.deploy.enabled=true'])).toContain(
      "'/server/etcd/deploy/enabled': got string, want boolean",
    );
    expect(fails(deployed, ['--set', 'server.etcd.deploy.storage=lots'])).toContain(
      "'/server/etcd/deploy/storage'",
    );
  });
});
