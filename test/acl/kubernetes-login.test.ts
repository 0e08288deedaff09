// Sidecar identity under ACLs, end to end: a real `meshpeer server --acl-enabled` with a `kubernetes`
// auth method whose Host is a real kube-apiserver (scripts/k8s-up.sh). Pods' service-account JWTs come
// from `kubectl create token`; the reviewer is a service account bound to system:auth-delegator. Login
// yields a token for the pod's own service only; forged, expired and unmatched JWTs get a 403 and no
// token; logout deletes the token; a real `meshpeer proxy --acl-auth-method` logs in, registers, and
// logs out on stop.
import { spawnSync } from 'node:child_process';
import { createSign, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DataplaneProcess, freePort, startDataplaneProcess } from '../security/dataplane-processes.js';
import { type AclServer, auth, MGMT, put, startAclServer, storeIndex } from '../security/support.js';
import { type KubeApiServer, kubectlOk, startKubeApiServer } from '../support/kube-apiserver.js';
import { api, CLI, eventually } from '../support/meshpeer-process.js';

interface Token {
  AccessorID: string;
  SecretID: string;
  AuthMethod?: string;
  Description: string;
  ServiceIdentities?: Array<{ ServiceName: string }>;
}

const ISSUER = 'https://kubernetes.default.svc.cluster.local';
const BIND_NAME = `\${serviceaccount.name}`;

let k8s: KubeApiServer;
let s: AclServer;
let dir: string;
const jwt: Record<string, string> = {};
let backendUid = '';
const started: DataplaneProcess[] = [];

const kc = (args: string[], stdin?: string) => kubectlOk(k8s.kubeconfigPath, args, stdin);

/** A service-account JWT as the API server mints them, signed with `key` (PEM), expiring at `exp`. */
function signJwt(key: string, exp: number, name: string, uid: string): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    aud: [ISSUER],
    exp,
    iat: Math.min(now, exp - 600),
    nbf: Math.min(now, exp - 600),
    iss: ISSUER,
    sub: `system:serviceaccount:default:${name}`,
    'kubernetes.io': { namespace: 'default', serviceaccount: { name, uid } },
  };
  const unsigned = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64(claims)}`;
  const signature = createSign('RSA-SHA256').update(unsigned).sign(key).toString('base64url');
  return `${unsigned}.${signature}`;
}

async function login(bearer: string, method = 'k8s') {
  return api<Token>(`${s.url}/v1/acl/login`, {
    method: 'POST',
    json: { AuthMethod: method, BearerToken: bearer, Meta: { pod: 'default/backend-1' } },
  });
}

async function loginTokens(): Promise<Token[]> {
  const res = await api<Token[]>(`${s.url}/v1/acl/tokens?authmethod=k8s`, { headers: auth(MGMT) });
  expect(res.status, res.text).toBe(200);
  return res.body;
}

beforeAll(async () => {
  [k8s, s] = await Promise.all([startKubeApiServer('acl-login'), startAclServer('dc-login')]);
  dir = mkdtempSync(path.join(tmpdir(), 'meshpeer-acl-login-'));
  await kc(['create', 'serviceaccount', 'backend']);
  await kc(['create', 'serviceaccount', 'consul-auth-method']);
  await kc(['create', 'namespace', 'other']);
  await kc(['create', 'serviceaccount', 'backend', '-n', 'other']);
  await kc([
    'create',
    'clusterrolebinding',
    'consul-auth-method-review',
    '--clusterrole=system:auth-delegator',
    '--serviceaccount=default:consul-auth-method',
  ]);
  jwt.reviewer = (await kc(['create', 'token', 'consul-auth-method'])).trim();
  jwt.backend = (await kc(['create', 'token', 'backend'])).trim();
  jwt.otherNamespace = (await kc(['create', 'token', 'backend', '-n', 'other'])).trim();
  backendUid = (await kc(['get', 'serviceaccount', 'backend', '-o', 'jsonpath={.metadata.uid}'])).trim();

  await put(s.url, '/v1/acl/auth-method', {
    Name: 'k8s',
    Type: 'kubernetes',
    Description: 'pods of the test cluster',
    Config: {
      Host: k8s.server,
      CACert: readFileSync(path.join(k8s.dir, 'certs', 'apiserver.crt'), 'utf8'),
      ServiceAccountJWT: jwt.reviewer,
    },
  });
  await put(s.url, '/v1/acl/binding-rule', {
    AuthMethod: 'k8s',
    BindType: 'service',
    BindName: BIND_NAME,
    Selector: 'serviceaccount.namespace==default',
  });
}, 600_000);

afterAll(async () => {
  await Promise.all(started.map((p) => p.stop()));
  await Promise.all([s?.server.stop(), k8s?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('kubernetes auth method', () => {
  it('is stored with its Config and listed without it', async () => {
    const one = await api<{ Type: string; Config: { Host: string } }>(`${s.url}/v1/acl/auth-method/k8s`, {
      headers: auth(MGMT),
    });
    expect(one.status, one.text).toBe(200);
    expect(one.body.Type).toBe('kubernetes');
    expect(one.body.Config.Host).toBe(k8s.server);
    const list = await api<Array<Record<string, unknown>>>(`${s.url}/v1/acl/auth-methods`, {
      headers: auth(MGMT),
    });
    expect(list.body.map((m) => m.Name)).toEqual(['k8s']);
    expect(list.body[0]).not.toHaveProperty('Config');
  });

  it("a pod's JWT logs in to a token for its own service only", async () => {
    const res = await login(jwt.backend ?? '');
    expect(res.status, res.text).toBe(200);
    expect(res.body.AuthMethod).toBe('k8s');
    expect(res.body.ServiceIdentities).toEqual([{ ServiceName: 'backend' }]);
    expect(res.body.Description).toBe('token created via login: {"pod":"default/backend-1"}');
    expect((await loginTokens()).map((t) => t.AccessorID)).toContain(res.body.AccessorID);

    const token = auth(res.body.SecretID);
    const backend = await api(`${s.url}/v1/agent/service/register`, {
      headers: token,
      json: { Name: 'backend', ID: 'backend-1', Port: 9090 },
    });
    expect(backend.status, backend.text).toBe(200);
    const db = await api(`${s.url}/v1/agent/service/register`, {
      headers: token,
      json: { Name: 'db', ID: 'db-1', Port: 5432 },
    });
    expect(db.status, db.text).toBe(403);
    expect(db.text).toContain(`'service:write' on "db"`);
    const leaf = await api(`${s.url}/v1/agent/connect/ca/leaf/db`, { headers: token });
    expect(leaf.status).toBe(403);
  });

  it('refuses a forged, an expired and an unmatched JWT with 403, creating no token', async () => {
    const before = await storeIndex(s.url);
    const count = (await loginTokens()).length;

    // The crafted form is what the API server accepts when signed with its key and not expired
    // (so the refusals below are for the signature and the expiry, not the shape).
    const key = readFileSync(path.join(k8s.dir, 'sa.key'), 'utf8');
    const hour = Math.floor(Date.now() / 1000) + 3600;
    const good = await login(signJwt(key, hour, 'backend', backendUid));
    expect(good.status, good.text).toBe(200);
    await api(`${s.url}/v1/acl/logout`, { method: 'POST', headers: auth(good.body.SecretID) });
    const afterGood = await storeIndex(s.url);

    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const forgedKey = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const forged = await login(signJwt(forgedKey, hour, 'backend', backendUid));
    expect(forged.status, forged.text).toBe(403);
    expect(forged.text).toContain('auth method "k8s": the Kubernetes API server rejected the bearer token');

    const expired = await login(signJwt(key, Math.floor(Date.now() / 1000) - 60, 'backend', backendUid));
    expect(expired.status, expired.text).toBe(403);
    expect(expired.text).toContain('rejected the bearer token');

    const garbage = await login('not-a-jwt');
    expect(garbage.status, garbage.text).toBe(403);

    const unmatched = await login(jwt.otherNamespace ?? '');
    expect(unmatched.status, unmatched.text).toBe(403);
    expect(unmatched.text).toContain('no binding rule that matches service account other/backend');

    const unknown = await login(jwt.backend ?? '', 'nope');
    expect(unknown.status, unknown.text).toBe(400);
    expect(unknown.text).toContain('auth method "nope" not found');

    expect(before).toBeLessThan(afterGood);
    expect(await storeIndex(s.url), 'a refused login wrote to the store').toBe(afterGood);
    expect((await loginTokens()).length).toBe(count);
  });

  it('logout deletes the login token; a token not made by login cannot log out', async () => {
    const res = await login(jwt.backend ?? '');
    expect(res.status, res.text).toBe(200);
    const out = await api(`${s.url}/v1/acl/logout`, { method: 'POST', headers: auth(res.body.SecretID) });
    expect(out.status, out.text).toBe(200);
    expect((await loginTokens()).map((t) => t.AccessorID)).not.toContain(res.body.AccessorID);
    const read = await api(`${s.url}/v1/acl/token/self`, { headers: auth(res.body.SecretID) });
    expect(read.status).toBe(403);
    const again = await api(`${s.url}/v1/acl/logout`, { method: 'POST', headers: auth(res.body.SecretID) });
    expect(again.status).toBe(403);
    const management = await api(`${s.url}/v1/acl/logout`, { method: 'POST', headers: auth(MGMT) });
    expect(management.status, management.text).toBe(403);
    expect(management.text).toContain('only a token created by login can log out');
  });

  it('a reviewer the API server does not allow to review gets a clear 403', async () => {
    await put(s.url, '/v1/acl/auth-method', {
      Name: 'k8s-no-review',
      Type: 'kubernetes',
      Config: {
        Host: k8s.server,
        CACert: readFileSync(path.join(k8s.dir, 'certs', 'apiserver.crt'), 'utf8'),
        ServiceAccountJWT: jwt.backend,
      },
    });
    await put(s.url, '/v1/acl/binding-rule', {
      AuthMethod: 'k8s-no-review',
      BindType: 'service',
      BindName: 'x',
    });
    const res = await login(jwt.backend ?? '', 'k8s-no-review');
    expect(res.status, res.text).toBe(403);
    expect(res.text).toContain('system:auth-delegator');
    const del = await api(`${s.url}/v1/acl/auth-method/k8s-no-review`, {
      method: 'DELETE',
      headers: auth(MGMT),
    });
    expect(del.status, del.text).toBe(200);
  });

  it('`meshpeer proxy --acl-auth-method` logs in, registers its sidecar, and logs out on stop', async () => {
    const tokenFile = path.join(dir, 'token');
    writeFileSync(tokenFile, `${jwt.backend}\n`, { mode: 0o600 });
    const before = (await loginTokens()).length;
    const proxy = await startDataplaneProcess('proxy', [
      '--server',
      s.url,
      '--service',
      'backend',
      '--listen',
      `127.0.0.1:${await freePort()}`,
      '--app-port',
      String(await freePort()),
      '--register',
      '--acl-auth-method',
      'k8s',
      '--acl-bearer-token-file',
      tokenFile,
      '--acl-login-meta',
      'pod=default/backend-7',
    ]);
    started.push(proxy);
    const mine = await eventually(async () =>
      (await loginTokens()).find((t) => t.Description.includes('default/backend-7')),
    );
    expect(mine.ServiceIdentities).toEqual([{ ServiceName: 'backend' }]);
    expect((await loginTokens()).length).toBe(before + 1);
    // The command prints its summary lines one by one once the sidecar runs: wait for the last.
    await eventually(async () =>
      proxy.logs.join('\n').includes(`logged in with auth method k8s: token ${mine.AccessorID}`),
    );
    await eventually(async () => {
      const res = await api<Array<{ ServiceID: string }>>(
        `${s.url}/v1/catalog/service/backend-sidecar-proxy`,
        {
          headers: auth(MGMT),
        },
      );
      return res.status === 200 && res.body.length === 1;
    });

    await proxy.stop();
    expect(proxy.child.exitCode, proxy.logs.join('\n')).toBe(0);
    expect((await loginTokens()).map((t) => t.AccessorID)).not.toContain(mine.AccessorID);
    const sidecars = await api<unknown[]>(`${s.url}/v1/catalog/service/backend-sidecar-proxy`, {
      headers: auth(MGMT),
    });
    expect(sidecars.body).toEqual([]);
  });

  it('`meshpeer proxy` with an unreadable bearer token file or a refused JWT does not start', async () => {
    const missing = startDataplaneProcess('proxy', [
      '--server',
      s.url,
      '--service',
      'backend',
      '--acl-auth-method',
      'k8s',
      '--acl-bearer-token-file',
      path.join(dir, 'missing'),
    ]);
    await expect(missing).rejects.toThrow(/cannot read the bearer token from .*missing/);
    const bad = path.join(dir, 'bad-token');
    writeFileSync(bad, jwt.otherNamespace ?? '');
    const refused = startDataplaneProcess('proxy', [
      '--server',
      s.url,
      '--service',
      'backend',
      '--acl-auth-method',
      'k8s',
      '--acl-bearer-token-file',
      bad,
    ]);
    await expect(refused).rejects.toThrow(
      /HTTP 403: .*no binding rule that matches service account other\/backend/,
    );
  });
});

describe('meshpeer acl auth-method (the chart sets the method up with it)', () => {
  const runAcl = (args: string[]) =>
    spawnSync(process.execPath, [CLI, 'acl', 'auth-method', ...args], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, MESHPEER_HTTP_ADDR: s.url, MESHPEER_HTTP_TOKEN: MGMT },
    });

  it('creates the method and its binding rule once, and a pod named after its service logs in with it', async () => {
    const reviewerFile = path.join(dir, 'reviewer.jwt');
    writeFileSync(reviewerFile, `${jwt.reviewer}\n`);
    const args = [
      '--name',
      'consul-k8s-auth-method',
      '--kubernetes-host',
      k8s.server,
      '--kubernetes-ca-file',
      path.join(k8s.dir, 'certs', 'apiserver.crt'),
      '--reviewer-jwt-file',
      reviewerFile,
    ];
    const first = runAcl(args);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/created auth method consul-k8s-auth-method; created its binding rule/);
    const again = runAcl(args);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/already in place/);
    const rules = await api<unknown[]>(`${s.url}/v1/acl/binding-rules?authmethod=consul-k8s-auth-method`, {
      headers: auth(MGMT),
    });
    expect(rules.body).toHaveLength(1);

    const res = await login(jwt.backend ?? '', 'consul-k8s-auth-method');
    expect(res.status, res.text).toBe(200);
    expect(res.body.ServiceIdentities).toEqual([{ ServiceName: 'backend' }]);
    // The default account is bound to nothing: its login is refused. (No controller-manager here makes it.)
    await kc(['create', 'serviceaccount', 'default']);
    const fallback = await login((await kc(['create', 'token', 'default'])).trim(), 'consul-k8s-auth-method');
    expect(fallback.status).toBe(403);

    const missing = runAcl([...args.slice(0, 6), '--reviewer-jwt-file', path.join(dir, 'nope.jwt')]);
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toMatch(/--reviewer-jwt-file .*nope\.jwt: cannot read it \(ENOENT\)/);
  });
});
