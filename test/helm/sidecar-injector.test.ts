// The sidecar injector as the chart installs it (connectInject.injector.enabled): a
// MutatingWebhookConfiguration for pods, through the uniqueness webhook's Service and certificate, with
// the namespace selector from the values; the controller's --inject flags from connectInject.default,
// the namespace lists, the sidecar engine and resources; and read access to pods and Services for the
// endpoints controller. test/k8s/inject-catalog-sync.test.ts runs the injector on a real cluster.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  cli,
  commandOf,
  defaultImage,
  find,
  flag,
  ignoredIn,
  type K8sObject,
  notes,
  render,
  seedValues,
  template,
  useHelm,
} from './support.js';

useHelm();

interface MutatingWebhookConfiguration {
  webhooks: {
    name: string;
    failurePolicy: string;
    clientConfig: {
      service: { name: string; namespace: string; path: string; port: number };
      caBundle: string;
    };
    namespaceSelector?: Record<string, unknown>;
    rules: { apiGroups: string[]; operations: string[]; resources: string[] }[];
  }[];
}

const withInjector = (connectInject: Record<string, unknown>) => ({
  ...seedValues,
  connectInject: { ...seedValues.connectInject, injector: { enabled: true }, ...connectInject },
});

function mutating(objects: K8sObject[]): MutatingWebhookConfiguration {
  return find(
    objects,
    'MutatingWebhookConfiguration',
    'consul-controller-webhook-mesh',
  ) as unknown as MutatingWebhookConfiguration;
}

describe('the sidecar injector in the chart', () => {
  it('is installed with connectInject.enabled (the seed values), as in consul-k8s, and not with injector.enabled false', () => {
    const seed = render(seedValues);
    expect(seed.filter((o) => o.kind === 'MutatingWebhookConfiguration')).toHaveLength(1);
    expect(commandOf(find(seed, 'Deployment', 'consul-controller'))).toContain('--inject');
    const off = render({
      ...seedValues,
      connectInject: { ...seedValues.connectInject, injector: { enabled: false } },
    });
    expect(off.filter((o) => o.kind === 'MutatingWebhookConfiguration')).toEqual([]);
    expect(commandOf(find(off, 'Deployment', 'consul-controller'))).not.toContain('--inject');
  });

  it('sends pod creations to the controller /mutate, trusted through the same CA as the uniqueness webhook', () => {
    const objects = render(withInjector({}));
    const hook = mutating(objects).webhooks[0];
    expect(hook?.clientConfig.service).toEqual({
      name: 'consul-controller-webhook',
      namespace: 'mesh',
      path: '/mutate',
      port: 443,
    });
    const validating = find(
      objects,
      'ValidatingWebhookConfiguration',
      'consul-controller-webhook-mesh',
    ) as unknown as {
      webhooks: { clientConfig: { caBundle: string } }[];
    };
    expect(hook?.clientConfig.caBundle).toBe(validating.webhooks[0]?.clientConfig.caBundle);
    expect(hook?.rules).toEqual([
      {
        apiGroups: [''],
        apiVersions: ['v1'],
        operations: ['CREATE'],
        resources: ['pods'],
        scope: 'Namespaced',
      },
    ]);
    expect(hook?.namespaceSelector).toEqual({
      matchExpressions: [
        { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'kube-public'] },
      ],
    });
  });

  it('takes connectInject.namespaceSelector as YAML text or as a map', () => {
    const text = mutating(render(withInjector({ namespaceSelector: 'matchLabels:\n  mesh: "on"\n' })));
    expect(text.webhooks[0]?.namespaceSelector).toEqual({ matchLabels: { mesh: 'on' } });
    const map = mutating(render(withInjector({ namespaceSelector: { matchLabels: { team: 'a' } } })));
    expect(map.webhooks[0]?.namespaceSelector).toEqual({ matchLabels: { team: 'a' } });
  });

  it('runs the controller with --inject, the image, the server Service name, the namespace lists and resources', () => {
    const objects = render(
      withInjector({
        default: true,
        k8sAllowNamespaces: ['apps', 'web'],
        k8sDenyNamespaces: ['legacy'],
        sidecarProxy: { resources: { requests: { cpu: '20m' }, limits: { memory: '100Mi' } } },
      }),
    );
    const command = commandOf(find(objects, 'Deployment', 'consul-controller'));
    const after = command.slice(command.indexOf('--inject'));
    expect(after).toEqual([
      '--inject',
      '--inject-image',
      defaultImage,
      '--inject-server',
      'https://consul-server.mesh.svc:8501',
      // TLS is on in the seed values: the sidecars get the server's CA inline.
      '--inject-ca-file',
      '/meshpeer/tls/ca/tls.crt',
      '--inject-allow-namespaces',
      'apps,web',
      '--inject-deny-namespaces',
      'legacy',
      '--inject-default',
      '--sidecar-cpu-request',
      '20m',
      '--sidecar-memory-limit',
      '100Mi',
    ]);
  });

  it('renders only --inject flags that `meshpeer controller` accepts', () => {
    const command = commandOf(
      find(
        render(
          withInjector({
            default: true,
            sidecarProxy: { engine: 'haproxy', resources: { limits: { cpu: '1', memory: '1Mi' } } },
          }),
        ),
        'Deployment',
        'consul-controller',
      ),
    );
    const help = spawnSync(process.execPath, [cli, 'controller', '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    const flags = command.filter((a) => a.startsWith('--inject') || a.startsWith('--sidecar'));
    expect(flags.length).toBeGreaterThan(6);
    for (const f of flags) {
      expect(help.stdout, `meshpeer controller has no flag ${f}`).toMatch(new RegExp(`\\s${f}[\\s,=<]`));
    }
  });

  it('lets the controller read pods and Services', () => {
    const role = find(render(withInjector({})), 'ClusterRole', 'consul-controller');
    const rule = role.rules?.find((r) => r.resources.includes('pods'));
    expect(rule).toEqual({
      apiGroups: [''],
      resources: ['pods', 'services'],
      verbs: ['get', 'list', 'watch'],
    });
  });

  it('reports none of the injector values as ignored', () => {
    const text = notes(
      withInjector({
        default: true,
        namespaceSelector: 'matchLabels: {a: b}',
        k8sAllowNamespaces: ['*'],
        k8sDenyNamespaces: ['x'],
        sidecarProxy: {
          engine: 'haproxy',
          resources: { requests: { cpu: '1', memory: '1Mi' }, limits: { cpu: '1', memory: '1Mi' } },
        },
      }),
    );
    expect(ignoredIn(text)).toEqual([]);
  });

  it('runs the sidecars on HAProxy or nginx with connectInject.sidecarProxy.engine "haproxy" or "nginx", and as before by default', () => {
    const controller = (values: Record<string, unknown>) =>
      commandOf(find(render(values), 'Deployment', 'consul-controller'));
    expect(controller(withInjector({}))).not.toContain('--inject-sidecar-engine');
    expect(controller(withInjector({ sidecarProxy: { engine: 'node' } }))).toEqual(
      controller(withInjector({})),
    );
    for (const engine of ['haproxy', 'nginx']) {
      const command = controller(withInjector({ sidecarProxy: { engine } }));
      expect(flag(command, '--inject-sidecar-engine')).toBe(engine);
    }
    // Without the injector there are no sidecars to run on it.
    expect(
      controller({
        ...seedValues,
        connectInject: {
          ...seedValues.connectInject,
          injector: { enabled: false },
          sidecarProxy: { engine: 'haproxy' },
        },
      }),
    ).not.toContain('--inject-sidecar-engine');
  });

  it('refuses a sidecar engine other than node, haproxy or nginx', () => {
    const r = template(withInjector({ sidecarProxy: { engine: 'envoy' } }));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("'/connectInject/sidecarProxy/engine'");
    expect(r.stderr).toMatch(/'node', 'haproxy', 'nginx'/);
  });

  it('with ACLs managed, sets up the kubernetes auth method and has the sidecars log in with it', () => {
    const acl = { ...withInjector({}), global: { ...seedValues.global, acls: { manageSystemACLs: true } } };
    const objects = render(acl);
    const reviewer = find(objects, 'Secret', 'consul-auth-method') as unknown as {
      type: string;
      metadata: { annotations: Record<string, string> };
    };
    expect(reviewer.type).toBe('kubernetes.io/service-account-token');
    expect(reviewer.metadata.annotations['kubernetes.io/service-account.name']).toBe('consul-auth-method');
    expect(find(objects, 'ServiceAccount', 'consul-auth-method')).toBeDefined();
    const binding = find(objects, 'ClusterRoleBinding', 'consul-auth-method-review') as unknown as {
      roleRef: { name: string };
    };
    expect(binding.roleRef.name).toBe('system:auth-delegator');

    const controller = find(objects, 'Deployment', 'consul-controller') as unknown as {
      spec: { template: { spec: { initContainers: { name: string; command: string[] }[] } } };
    };
    const init = controller.spec.template.spec.initContainers.find((c) => c.name === 'auth-method-init');
    expect(init?.command.slice(0, 5)).toEqual([
      'meshpeer',
      'acl',
      'auth-method',
      '--name',
      'consul-k8s-auth-method',
    ]);
    const help = spawnSync(process.execPath, [cli, 'acl', 'auth-method', '--help'], { encoding: 'utf8' });
    for (const f of (init?.command ?? []).filter((a) => a.startsWith('--'))) {
      expect(help.stdout, `meshpeer acl auth-method has no flag ${f}`).toMatch(new RegExp(`\\s${f}[\\s,=<]`));
    }
    expect(flag(commandOf(controller as unknown as K8sObject), '--inject-acl-auth-method')).toBe(
      'consul-k8s-auth-method',
    );

    // Without ACLs: no auth method, and sidecars do not log in.
    const plain = render(withInjector({}));
    expect(plain.some((o) => o.metadata?.name === 'consul-auth-method')).toBe(false);
    expect(commandOf(find(plain, 'Deployment', 'consul-controller'))).not.toContain(
      '--inject-acl-auth-method',
    );
  });
});
