// global.tls.enabled and global.acls.manageSystemACLs change what the chart renders, and a server started
// from the rendered command line and environment (with the rendered Secrets where the pod mounts them)
// really serves HTTPS only and really requires a token. Clients are checked the way the controller and
// the gateways run: Node's fetch, trusting the chart's CA through NODE_EXTRA_CA_CERTS.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  cli,
  commandOf,
  containerOf,
  type EnvVar,
  find,
  flag,
  type K8sObject,
  merge,
  render,
  seedValues,
  template,
  useHelm,
} from './support.js';

useHelm();

const secured = merge(seedValues, { global: { acls: { manageSystemACLs: true } } });

function secretValue(objects: K8sObject[], name: string, key: string): string {
  const data = find(objects, 'Secret', name).data?.[key];
  if (data === undefined) throw new Error(`Secret ${name} has no ${key}`);
  return Buffer.from(data, 'base64').toString('utf8');
}

/** The container's environment, secretKeyRefs resolved from the rendered Secrets; fieldRefs left out. */
function envOf(objects: K8sObject[], env: EnvVar[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of env) {
    if (e.value !== undefined) out[e.name] = e.value;
    const ref = e.valueFrom?.secretKeyRef;
    if (ref) out[e.name] = secretValue(objects, ref.name, ref.key);
  }
  return out;
}

describe('what TLS and ACL values render', () => {
  it('renders plain HTTP on 8500 and no ACLs by default', () => {
    const objects = render(
      merge(seedValues, { global: { tls: { enabled: false }, peering: { enabled: false } } }),
    );
    const server = commandOf(find(objects, 'StatefulSet', 'consul-server'));
    expect(flag(server, '--http-addr')).toBe('0.0.0.0:8500');
    expect(server).not.toContain('--http-tls-cert');
    expect(server).not.toContain('--acl-enabled');
    expect(flag(commandOf(find(objects, 'Deployment', 'consul-controller')), '--server')).toBe(
      'http://consul-server:8500',
    );
    // Only the controller webhook's certificate: no TLS or ACL Secrets.
    expect(objects.filter((o) => o.kind === 'Secret').map((o) => o.metadata.name)).toEqual([
      'consul-controller-webhook',
    ]);
  });

  it('serves HTTPS on 8501 with a certificate from the chart CA, which the controller and gateways trust', () => {
    const objects = render(seedValues);
    const sts = find(objects, 'StatefulSet', 'consul-server');
    const server = commandOf(sts);
    expect(flag(server, '--http-addr')).toBe('0.0.0.0:8501');
    expect(flag(server, '--http-tls-cert')).toBe('/meshpeer/tls/server/tls.crt');
    expect(flag(server, '--http-tls-key')).toBe('/meshpeer/tls/server/tls.key');
    expect(containerOf(sts).volumeMounts).toContainEqual({
      name: 'server-cert',
      mountPath: '/meshpeer/tls/server',
      readOnly: true,
    });
    expect(sts.spec?.template?.spec.volumes).toContainEqual({
      name: 'server-cert',
      secret: { secretName: 'consul-server-cert' },
    });
    const svc = find(objects, 'Service', 'consul-server');
    expect(svc.spec?.ports?.map((p) => [p.name, p.port])).toEqual([
      ['http', 8501],
      ['grpc', 8502],
    ]);

    const ca = new X509Certificate(secretValue(objects, 'consul-ca-cert', 'tls.crt'));
    const cert = new X509Certificate(secretValue(objects, 'consul-server-cert', 'tls.crt'));
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.subjectAltName).toContain('DNS:consul-server.mesh.svc');
    expect(cert.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(find(objects, 'Secret', 'consul-ca-cert').data).not.toHaveProperty('tls.key');

    for (const name of ['consul-controller', 'consul-mesh-gateway']) {
      const deploy = find(objects, 'Deployment', name);
      expect(flag(commandOf(deploy), '--server'), name).toBe('https://consul-server:8501');
      expect(envOf(objects, containerOf(deploy).env).NODE_EXTRA_CA_CERTS, name).toBe(
        '/meshpeer/tls/ca/tls.crt',
      );
      expect(containerOf(deploy).volumeMounts, name).toContainEqual({
        name: 'ca-cert',
        mountPath: '/meshpeer/tls/ca',
        readOnly: true,
      });
      expect(deploy.spec?.template?.spec.volumes, name).toContainEqual({
        name: 'ca-cert',
        secret: { secretName: 'consul-ca-cert', items: [{ key: 'tls.crt', path: 'tls.crt' }] },
      });
    }
  });

  it('refuses a given CA (global.tls.caCert) where there is no cluster to read it from, saying why', () => {
    const r = template(
      merge(seedValues, {
        global: { tls: { caCert: { secretName: 'my-ca' }, caKey: { secretName: 'my-ca' } } },
      }),
    );
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(
      'global.tls.caCert/caKey: cannot read Secrets my-ca and my-ca in namespace mesh',
    );
    const noKey = template(merge(seedValues, { global: { tls: { caCert: { secretName: 'my-ca' } } } }));
    expect(noKey.stderr).toContain(
      'setting global.tls.caCert.secretName requires global.tls.caKey.secretName',
    );
  });

  it('turns ACLs on with a generated bootstrap token, seen only by the server and the acl-init containers', () => {
    const objects = render(secured);
    const token = secretValue(objects, 'consul-bootstrap-acl-token', 'token');
    expect(token).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const sts = find(objects, 'StatefulSet', 'consul-server');
    expect(commandOf(sts)).toContain('--acl-enabled');
    // Never on the command line, where `ps` shows it.
    expect(commandOf(sts).join(' ')).not.toContain(token);
    expect(envOf(objects, containerOf(sts).env).MESHPEER_ACL_INITIAL_MANAGEMENT_TOKEN).toBe(token);
    for (const [name, component] of [
      ['consul-controller', 'controller'],
      ['consul-mesh-gateway', 'mesh-gateway'],
    ] as const) {
      const deploy = find(objects, 'Deployment', name);
      const own = secretValue(objects, `consul-${component}-acl-token`, 'token');
      expect(own).not.toBe(token);
      expect(envOf(objects, containerOf(deploy).env).MESHPEER_HTTP_TOKEN, name).toBe(own);
      const init = deploy.spec?.template?.spec.initContainers?.[0];
      expect(init?.command?.slice(0, 5), name).toEqual([
        'meshpeer',
        'acl',
        'component-token',
        '--component',
        component,
      ]);
      expect(envOf(objects, init?.env)).toMatchObject({
        MESHPEER_HTTP_TOKEN: token,
        MESHPEER_COMPONENT_TOKEN: own,
      });
      // Its flags exist in the CLI.
      const help = spawnSync(process.execPath, [cli, 'acl', 'component-token', '--help'], {
        encoding: 'utf8',
      });
      for (const f of (init?.command ?? []).filter((a) => a.startsWith('--')))
        expect(help.stdout).toContain(f);
    }
  });
});

describe('a server started from the rendered TLS and ACL values', () => {
  let scratch = '';
  let child: ChildProcess | undefined;
  let port = 0;
  let token = '';
  let caFile = '';
  /** What the server was started from (each render generates new Secrets). */
  let objects: K8sObject[] = [];

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child?.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('starts with the rendered arguments, the Secrets mounted where the pod mounts them', async () => {
    objects = render(secured);
    const sts = find(objects, 'StatefulSet', 'consul-server');
    const container = containerOf(sts);
    scratch = mkdtempSync(join(tmpdir(), 'meshpeer-helm-tls-'));
    // Each mount of the pod becomes a directory here; Secret volumes get their keys as files.
    const mounts = new Map<string, string>();
    for (const m of container.volumeMounts ?? []) {
      const dir = join(scratch, m.name);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      mounts.set(m.mountPath, dir);
      const secretName = sts.spec?.template?.spec.volumes?.find((v) => v.name === m.name)?.secret?.secretName;
      if (secretName) {
        for (const key of Object.keys(find(objects, 'Secret', secretName).data ?? {})) {
          writeFileSync(join(dir, key), secretValue(objects, secretName, key), { mode: 0o600 });
        }
      }
    }
    const localPath = (arg: string): string => {
      for (const [mountPath, dir] of mounts)
        if (arg.startsWith(`${mountPath}/`)) return dir + arg.slice(mountPath.length);
      return arg;
    };
    // Only the listen addresses change: loopback, any free port.
    const args = commandOf(sts)
      .slice(1)
      .map(localPath)
      .map((a, i, all) => (all[i - 1] === '--http-addr' || all[i - 1] === '--grpc-addr' ? '127.0.0.1:0' : a));
    const env = envOf(objects, container.env);
    token = env.MESHPEER_ACL_INITIAL_MANAGEMENT_TOKEN ?? '';
    caFile = join(scratch, 'ca.crt');
    writeFileSync(caFile, secretValue(objects, 'consul-ca-cert', 'tls.crt'));

    child = spawn(process.execPath, [cli, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let logs = '';
    port = await new Promise<number>((resolveReady, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start:\n${logs}`)), 30_000);
      child?.stderr?.on('data', (chunk: Buffer) => {
        logs += chunk.toString();
        const ready = logs.split('\n').find((line) => line.includes('"msg":"server ready"'));
        const m = ready === undefined ? null : /"httpAddress":"127\.0\.0\.1:(\d+)"/.exec(ready);
        if (m?.[1]) {
          clearTimeout(timer);
          resolveReady(Number(m[1]));
        }
      });
      child?.on('exit', (code) => reject(new Error(`server exited (${code}):\n${logs}`)));
    });
    expect(logs).toContain('"httpTls":"enabled');
  });

  it('refuses plain HTTP', async () => {
    await expect(fetch(`http://127.0.0.1:${port}/v1/status/leader`)).rejects.toThrow();
  });

  it('presents a certificate that only the chart CA verifies', async () => {
    const get = (ca?: string) =>
      new Promise<number>((resolveStatus, reject) => {
        const req = request(
          { host: '127.0.0.1', port, path: '/v1/status/leader', ...(ca ? { ca } : {}) },
          (res) => {
            res.resume();
            resolveStatus(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end();
      });
    await expect(get()).rejects.toThrow(/self.signed|unable to verify|certificate/i);
    expect(await get(readFileSync(caFile, 'utf8'))).toBeGreaterThan(0);
  });

  it('gives the controller and the gateway least-privilege tokens with the rendered acl-init containers', async () => {
    const own: Record<string, string> = {};
    for (const [name, component] of [
      ['consul-controller', 'controller'],
      ['consul-mesh-gateway', 'mesh-gateway'],
    ] as const) {
      const init = find(objects, 'Deployment', name).spec?.template?.spec.initContainers?.[0];
      const env = envOf(objects, init?.env);
      const args = (init?.command ?? [])
        .slice(1)
        .map((a, i, all) => (all[i - 1] === '--http-addr' ? `https://127.0.0.1:${port}` : a));
      for (let run = 0; run < 2; run++) {
        const r = spawnSync(process.execPath, [cli, ...args], {
          encoding: 'utf8',
          env: { PATH: process.env.PATH, ...env, NODE_EXTRA_CA_CERTS: caFile },
          timeout: 30_000,
        });
        expect(r.status, r.stderr).toBe(0);
        // The second run (a restarted pod) finds everything in place.
        if (run === 1) expect(r.stdout).toContain('were already in place');
      }
      own[component] = env.MESHPEER_COMPONENT_TOKEN ?? '';
    }
    const call = (method: string, path: string, secret: string, body?: unknown) =>
      new Promise<number>((resolveStatus, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port,
            path,
            method,
            ca: readFileSync(caFile, 'utf8'),
            headers: { 'X-Consul-Token': secret },
          },
          (res) => {
            res.resume();
            resolveStatus(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end(body === undefined ? undefined : JSON.stringify(body));
      });
    // The controller may manage peerings and config entries, not ACLs.
    expect(await call('POST', '/v1/peering/token', own.controller ?? '', { PeerName: 'cluster-02' })).toBe(
      200,
    );
    expect(await call('PUT', '/v1/config', own.controller ?? '', { Kind: 'mesh', Name: 'mesh' })).toBe(200);
    expect(await call('GET', '/v1/acl/tokens', own.controller ?? '')).toBe(403);
    // The gateway may register itself, not other services, and may not generate peering tokens.
    const gateway = { Name: 'mesh-gateway', Kind: 'mesh-gateway', Port: 8443 };
    expect(await call('PUT', '/v1/agent/service/register', own['mesh-gateway'] ?? '', gateway)).toBe(200);
    expect(
      await call('PUT', '/v1/agent/service/register', own['mesh-gateway'] ?? '', { Name: 'web', Port: 80 }),
    ).toBe(403);
    expect(await call('POST', '/v1/peering/token', own['mesh-gateway'] ?? '', { PeerName: 'x' })).toBe(403);
    expect(await call('GET', '/v1/acl/tokens', own['mesh-gateway'] ?? '')).toBe(403);
    // It asks its server's datacenter (agent:read on /v1/agent/self) when the chart does not give it.
    expect(await call('GET', '/v1/agent/self', own['mesh-gateway'] ?? '')).toBe(200);
  });

  it('answers a client that trusts the CA (NODE_EXTRA_CA_CERTS) only with the bootstrap token', () => {
    const client = (extra: Record<string, string>) =>
      spawnSync(process.execPath, [cli, 'peering', 'list'], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH, MESHPEER_HTTP_ADDR: `https://127.0.0.1:${port}`, ...extra },
        timeout: 30_000,
      });
    const ok = client({ NODE_EXTRA_CA_CERTS: caFile, MESHPEER_HTTP_TOKEN: token });
    expect(ok.status, ok.stderr).toBe(0);
    const noToken = client({ NODE_EXTRA_CA_CERTS: caFile });
    expect(noToken.status).not.toBe(0);
    expect(noToken.stderr).toMatch(/permission denied|403|ACL/i);
    const noCa = client({ MESHPEER_HTTP_TOKEN: token });
    expect(noCa.status).not.toBe(0);
  });
});
