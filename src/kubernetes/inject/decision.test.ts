import { describe, expect, it } from 'vitest';
import { parseUpstreams } from './annotations.js';
import {
  decideInjection,
  type InjectSettings,
  type JsonPatchOp,
  type PodShape,
  podService,
} from './decision.js';

const settings: InjectSettings = {
  defaultInject: false,
  allowNamespaces: ['*'],
  denyNamespaces: ['blocked'],
  image: 'meshpeer/meshpeer:0.1.0',
  serverAddress: 'http://meshpeer-server.consul:8500',
  resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '128Mi' } },
};

function pod(
  annotations?: Record<string, string>,
  ports = [{ name: 'http', containerPort: 8080 }],
): PodShape {
  return {
    metadata: { generateName: 'web-', ...(annotations ? { annotations } : {}) },
    spec: { containers: [{ name: 'web', ports }] },
  };
}

/** Applies the "add" operations the injector emits (enough to check what the API server would store). */
function apply(target: PodShape, patch: JsonPatchOp[]): PodShape {
  const doc = structuredClone(target) as Record<string, unknown>;
  for (const op of patch) {
    const keys = op.path
      .split('/')
      .slice(1)
      .map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = keys.pop() ?? '';
    let parent = doc as Record<string, unknown>;
    for (const k of keys) parent = parent[k] as Record<string, unknown>;
    if (last === '-' && Array.isArray(parent)) parent.push(op.value);
    else parent[last] = op.value;
  }
  return doc as PodShape;
}

describe('parseUpstreams', () => {
  it.each([
    ['backend:1234', [{ service: 'backend', port: 1234 }]],
    ['backend.svc.cluster-01.peer:1234', [{ service: 'backend', peer: 'cluster-01', port: 1234 }]],
    [
      'backend:1234, db.svc.cluster-01.peer:5432',
      [
        { service: 'backend', port: 1234 },
        { service: 'db', peer: 'cluster-01', port: 5432 },
      ],
    ],
    ['backend.svc.default.ns.cluster-01.peer:1234', [{ service: 'backend', peer: 'cluster-01', port: 1234 }]],
    ['backend.svc:1234', [{ service: 'backend', port: 1234 }]],
    ['', []],
  ])('%s', (raw, expected) => {
    expect(parseUpstreams(raw)).toEqual({ ok: true, value: expected });
  });

  it.each([
    ['backend', /must be SERVICE:PORT/],
    ['backend:0', /not a port/],
    ['backend:http', /not a port/],
    ['Backend:1234', /not a service name/],
    ['backend:1234:dc2', /WAN federation/],
    ['backend.svc.dc2.dc:1234', /WAN federation/],
    ['backend.team.ns:1234', /labeled form|Enterprise/],
    ['backend.svc.team.ns:1234', /Enterprise/],
    ['backend.svc.Bad_Peer.peer:1234', /not a valid peer name/],
    ['backend.svc.x.zone:1234', /unknown label/],
    ['a:1234,b:1234', /both use local port 1234/],
  ])('refuses %s', (raw, message) => {
    const parsed = parseUpstreams(raw);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problem).toMatch(message);
  });
});

describe('podService', () => {
  it('takes connect-service and a named connect-service-port', () => {
    const p = pod({
      'consul.hashicorp.com/connect-service': 'frontend',
      'consul.hashicorp.com/connect-service-port': 'http',
    });
    expect(podService(p)).toEqual({ ok: true, value: { service: 'frontend', appPort: 8080 } });
  });
  it('defaults to the first container and its first port', () => {
    expect(podService(pod())).toEqual({ ok: true, value: { service: 'web', appPort: 8080 } });
  });
  it('has no app port when no container exposes one', () => {
    expect(podService(pod({}, []))).toEqual({ ok: true, value: { service: 'web', appPort: undefined } });
  });
  it('refuses an unknown port name', () => {
    const r = podService(pod({ 'consul.hashicorp.com/connect-service-port': 'grpc' }));
    expect(r).toMatchObject({ ok: false, problem: expect.stringMatching(/"grpc" is neither a port number/) });
  });
});

describe('decideInjection', () => {
  it('injects an annotated pod: container, args, probe, annotation and label', () => {
    const p = pod({
      'consul.hashicorp.com/connect-inject': 'true',
      'consul.hashicorp.com/connect-service-upstreams': 'backend.svc.cluster-01.peer:1234,cache:6379',
    });
    const d = decideInjection(p, 'default', settings);
    expect(d.kind).toBe('inject');
    if (d.kind !== 'inject') return;
    const out = apply(p, d.patch);
    expect(out.metadata?.annotations?.['consul.hashicorp.com/connect-inject-status']).toBe('injected');
    expect(out.metadata?.labels?.['consul.hashicorp.com/connect-inject-status']).toBe('injected');
    expect(out.spec?.containers?.map((c) => c.name)).toEqual(['web', 'meshpeer-proxy']);
    expect(d.container).toMatchObject({
      image: 'meshpeer/meshpeer:0.1.0',
      command: ['meshpeer', 'proxy'],
      args: [
        '--service',
        'web',
        '--listen',
        '0.0.0.0:20000',
        '--app-port',
        '8080',
        '--upstream',
        'backend:peer=cluster-01:1234',
        '--upstream',
        'cache:6379',
      ],
      env: [{ name: 'MESHPEER_HTTP_ADDR', value: 'http://meshpeer-server.consul:8500' }],
      readinessProbe: { tcpSocket: { port: 20000 } },
      resources: settings.resources,
    });
    expect(d.warnings).toEqual([]);
  });

  it('never injects twice', () => {
    const p = pod({ 'consul.hashicorp.com/connect-inject': 'true' });
    const d = decideInjection(p, 'default', settings);
    if (d.kind !== 'inject') throw new Error(`expected inject, got ${d.kind}`);
    const again = decideInjection(apply(p, d.patch), 'default', settings);
    expect(again).toMatchObject({ kind: 'skip', reason: 'already injected' });
  });

  it('follows connectInject.default when the pod says nothing, and the annotation over it', () => {
    expect(decideInjection(pod(), 'default', settings).kind).toBe('skip');
    expect(decideInjection(pod(), 'default', { ...settings, defaultInject: true }).kind).toBe('inject');
    const off = pod({ 'consul.hashicorp.com/connect-inject': 'false' });
    expect(decideInjection(off, 'default', { ...settings, defaultInject: true }).kind).toBe('skip');
  });

  it('honours the namespace rules, and never touches kube-system', () => {
    const p = pod({ 'consul.hashicorp.com/connect-inject': 'true' });
    expect(decideInjection(p, 'blocked', settings).kind).toBe('skip');
    expect(decideInjection(p, 'kube-system', settings).kind).toBe('skip');
    const only = { ...settings, allowNamespaces: ['apps'] };
    expect(decideInjection(p, 'default', only).kind).toBe('skip');
    expect(decideInjection(p, 'apps', only).kind).toBe('inject');
  });

  it.each([
    [{ 'consul.hashicorp.com/connect-inject': 'yes' }, /must be "true" or "false", got "yes"/],
    [
      { 'consul.hashicorp.com/connect-inject': 'true', 'consul.hashicorp.com/connect-service': 'a,b' },
      /one service per pod/,
    ],
    [
      {
        'consul.hashicorp.com/connect-inject': 'true',
        'consul.hashicorp.com/connect-service-upstreams': 'x',
      },
      /must be SERVICE:PORT/,
    ],
    [
      {
        'consul.hashicorp.com/connect-inject': 'true',
        'consul.hashicorp.com/connect-service-upstreams': 'backend:8080',
      },
      /is the app's own port/,
    ],
    [
      {
        'consul.hashicorp.com/connect-inject': 'true',
        'consul.hashicorp.com/sidecar-proxy-memory-limit': 'lots',
      },
      /not a Kubernetes quantity/,
    ],
    [
      { 'consul.hashicorp.com/connect-inject': 'true', 'consul.hashicorp.com/transparent-proxy': 'maybe' },
      /transparent-proxy must be "true" or "false"/,
    ],
  ])('rejects nonsense: %j', (annotations, message) => {
    const d = decideInjection(pod(annotations), 'default', settings);
    expect(d).toMatchObject({ kind: 'reject', message: expect.stringMatching(message) });
  });

  it('warns a pod asking for transparent proxy to use explicit upstreams, and injects it', () => {
    const p = pod({
      'consul.hashicorp.com/connect-inject': 'true',
      'consul.hashicorp.com/transparent-proxy': 'true',
    });
    const d = decideInjection(p, 'default', settings);
    expect(d.kind).toBe('inject');
    if (d.kind === 'inject') expect(d.warnings.join()).toMatch(/not supported.*connect-service-upstreams/);
  });

  it('a pod without ports gets a sidecar with upstreams only, and no probe', () => {
    const p = pod(
      {
        'consul.hashicorp.com/connect-inject': 'true',
        'consul.hashicorp.com/connect-service-upstreams': 'backend:1234',
      },
      [],
    );
    const d = decideInjection(p, 'default', settings);
    if (d.kind !== 'inject') throw new Error(`expected inject, got ${d.kind}`);
    expect(d.container.args).toEqual(['--service', 'web', '--upstream', 'backend:1234']);
    expect(d.container.readinessProbe).toBeUndefined();
  });

  it('sidecar resources take the pod annotations over the defaults', () => {
    const p = pod({
      'consul.hashicorp.com/connect-inject': 'true',
      'consul.hashicorp.com/sidecar-proxy-cpu-limit': '200m',
      'consul.hashicorp.com/sidecar-proxy-memory-request': '32Mi',
    });
    const d = decideInjection(p, 'default', settings);
    if (d.kind !== 'inject') throw new Error(`expected inject, got ${d.kind}`);
    expect(d.container.resources).toEqual({
      requests: { cpu: '50m', memory: '32Mi' },
      limits: { memory: '128Mi', cpu: '200m' },
    });
  });
});

describe('injection with ACLs (kubernetes auth method login)', () => {
  const acl: InjectSettings = { ...settings, aclAuthMethod: 'consul-k8s-auth-method' };
  const asAccount = (account: string | undefined, extra: Partial<NonNullable<PodShape['spec']>> = {}) => {
    const p = pod({ 'consul.hashicorp.com/connect-inject': 'true' });
    return { ...p, spec: { ...p.spec, ...(account ? { serviceAccountName: account } : {}), ...extra } };
  };

  it('logs the sidecar in with the auth method, naming its pod, when the account is named after the service', () => {
    const d = decideInjection(asAccount('web'), 'apps', acl);
    if (d.kind !== 'inject') throw new Error(`expected inject, got ${JSON.stringify(d)}`);
    expect(d.container.args).toEqual(
      expect.arrayContaining([
        '--acl-auth-method',
        'consul-k8s-auth-method',
        '--acl-login-meta',
        'pod=$(POD_NAMESPACE)/$(POD_NAME)',
      ]),
    );
    expect(d.container.env).toEqual([
      { name: 'MESHPEER_HTTP_ADDR', value: 'http://meshpeer-server.consul:8500' },
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    ]);
    // Without ACLs, no login and no extra env.
    const plain = decideInjection(asAccount('web'), 'apps', settings);
    if (plain.kind !== 'inject') throw new Error('expected inject');
    expect(plain.container.args).not.toContain('--acl-auth-method');
  });

  it('refuses a pod whose service account is not named after its service, or that does not mount its token', () => {
    const other = decideInjection(asAccount(undefined), 'apps', acl);
    expect(other).toMatchObject({ kind: 'reject' });
    expect(other.kind === 'reject' && other.message).toMatch(
      /runs as service account "default" but is service "web"; set spec.serviceAccountName: web/,
    );
    const noToken = decideInjection(asAccount('web', { automountServiceAccountToken: false }), 'apps', acl);
    expect(noToken.kind === 'reject' && noToken.message).toMatch(
      /automountServiceAccountToken must not be false/,
    );
  });
});

describe('injection with a TLS server', () => {
  it("gives the sidecar the server's CA inline", () => {
    const d = decideInjection(pod({ 'consul.hashicorp.com/connect-inject': 'true' }), 'apps', {
      ...settings,
      serverAddress: 'https://s.mesh.svc:8501',
      serverCaPem: 'PEM\n',
    });
    if (d.kind !== 'inject') throw new Error('expected inject');
    expect(d.container.env).toContainEqual({ name: 'MESHPEER_HTTP_CACERT_PEM', value: 'PEM\n' });
  });
});

describe('the sidecar engine', () => {
  const annotated = () =>
    pod({
      'consul.hashicorp.com/connect-inject': 'true',
      'consul.hashicorp.com/connect-service-upstreams': 'db.svc.cluster-01.peer:5432',
    });

  it.each(['haproxy', 'nginx'] as const)(
    'runs the sidecar with --engine %s when the injector is set to it',
    (engine) => {
      const d = decideInjection(annotated(), 'apps', { ...settings, engine });
      if (d.kind !== 'inject') throw new Error(`expected inject, got ${JSON.stringify(d)}`);
      expect(d.container.args).toEqual([
        '--service',
        'web',
        '--listen',
        '0.0.0.0:20000',
        '--app-port',
        '8080',
        '--upstream',
        'db:peer=cluster-01:5432',
        '--engine',
        engine,
      ]);
      const stored = apply(annotated(), d.patch);
      const sidecar = stored.spec?.containers.find((c) => c.name === 'meshpeer-proxy') as
        | { args: string[] }
        | undefined;
      expect(sidecar?.args.slice(-2)).toEqual(['--engine', engine]);
    },
  );

  it('adds no --engine for node or when unset (the proxy defaults to node)', () => {
    for (const engine of ['node', undefined] as const) {
      const d = decideInjection(annotated(), 'apps', {
        ...settings,
        ...(engine ? { engine } : {}),
      });
      if (d.kind !== 'inject') throw new Error('expected inject');
      expect(d.container.args).not.toContain('--engine');
      expect(d.container.args.at(-1)).toBe('db:peer=cluster-01:5432');
    }
  });

  it('keeps --engine haproxy alongside the ACL login flags', () => {
    const p = annotated();
    const d = decideInjection({ ...p, spec: { ...p.spec, serviceAccountName: 'web' } }, 'apps', {
      ...settings,
      engine: 'haproxy',
      aclAuthMethod: 'consul-k8s-auth-method',
    });
    if (d.kind !== 'inject') throw new Error(`expected inject, got ${JSON.stringify(d)}`);
    const args = d.container.args;
    expect(args[args.indexOf('--engine') + 1]).toBe('haproxy');
    expect(args[args.indexOf('--acl-auth-method') + 1]).toBe('consul-k8s-auth-method');
  });
});
