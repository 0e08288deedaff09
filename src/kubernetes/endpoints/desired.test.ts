import { describe, expect, it } from 'vitest';
import { desiredRegistrations, fingerprintOf, type ServiceShape, type SyncPod } from './desired.js';

const service: ServiceShape = {
  metadata: { name: 'backend', namespace: 'apps' },
  spec: { selector: { app: 'backend' } },
};

function pod(
  name: string,
  opts: { ready?: boolean; ip?: string; injected?: boolean; deleting?: boolean } = {},
): SyncPod {
  return {
    metadata: {
      name,
      namespace: 'apps',
      labels: { app: 'backend' },
      annotations: {
        ...(opts.injected === false ? {} : { 'consul.hashicorp.com/connect-inject-status': 'injected' }),
        'consul.hashicorp.com/connect-service-upstreams': 'db.svc.cluster-01.peer:5432',
      },
      ...(opts.deleting ? { deletionTimestamp: '2026-11-30T00:00:00Z' } : {}),
    },
    spec: { nodeName: 'node-1', containers: [{ name: 'backend', ports: [{ containerPort: 8080 }] }] },
    status: {
      phase: 'Running',
      ...(opts.ip === '' ? {} : { podIP: opts.ip ?? '10.1.0.5' }),
      hostIP: '192.168.0.1',
      conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }],
    },
  };
}

describe('desiredRegistrations', () => {
  it('registers a ready injected pod and its sidecar proxy, with metadata and a passing check', () => {
    const out = desiredRegistrations([service], [pod('backend-1')]);
    expect([...out.keys()]).toEqual(['backend-1-backend', 'backend-1-backend-sidecar-proxy']);
    const app = out.get('backend-1-backend');
    expect(app).toMatchObject({
      Node: 'node-1',
      Address: '192.168.0.1',
      Service: {
        Service: 'backend',
        Address: '10.1.0.5',
        Port: 8080,
        Meta: {
          'k8s-namespace': 'apps',
          'k8s-service-name': 'backend',
          'managed-by': 'meshpeer-endpoints-controller',
          'pod-name': 'backend-1',
        },
      },
      Checks: [{ ServiceID: 'backend-1-backend', Status: 'passing' }],
    });
    expect(out.get('backend-1-backend-sidecar-proxy')).toMatchObject({
      Service: {
        Service: 'backend-sidecar-proxy',
        Kind: 'connect-proxy',
        Port: 20000,
        Proxy: {
          DestinationServiceName: 'backend',
          DestinationServiceID: 'backend-1-backend',
          LocalServicePort: 8080,
          Upstreams: [{ DestinationName: 'db', DestinationPeer: 'cluster-01', LocalBindPort: 5432 }],
        },
      },
    });
  });

  it('an unready pod is registered with a critical check; readiness changes the fingerprint', () => {
    const ready = desiredRegistrations([service], [pod('backend-1')]).get('backend-1-backend');
    const unready = desiredRegistrations([service], [pod('backend-1', { ready: false })]).get(
      'backend-1-backend',
    );
    expect(unready?.Checks[0]?.Status).toBe('critical');
    expect(ready && unready && fingerprintOf(ready) !== fingerprintOf(unready)).toBe(true);
  });

  it('leaves out pods not injected, not selected, without an IP, or being deleted', () => {
    const other: SyncPod = {
      ...pod('web-1'),
      metadata: { ...pod('web-1').metadata, labels: { app: 'web' } },
    };
    const out = desiredRegistrations(
      [service],
      [pod('a', { injected: false }), other, pod('b', { ip: '' }), pod('c', { deleting: true }), pod('d')],
    );
    expect([...out.keys()]).toEqual(['d-backend', 'd-backend-sidecar-proxy']);
  });

  it('a Service without a selector, or in another namespace, selects nothing', () => {
    const none: ServiceShape = { metadata: { name: 'x', namespace: 'apps' }, spec: {} };
    const elsewhere: ServiceShape = { ...service, metadata: { name: 'backend', namespace: 'other' } };
    expect(desiredRegistrations([none, elsewhere], [pod('backend-1')]).size).toBe(0);
  });

  it('a pod selected by two Services is registered once, for the first by name', () => {
    const alias: ServiceShape = { ...service, metadata: { name: 'aaa-alias', namespace: 'apps' } };
    const out = desiredRegistrations([service, alias], [pod('backend-1')]);
    expect(out.size).toBe(2);
    expect(out.get('backend-1-backend')?.Service.Meta['k8s-service-name']).toBe('aaa-alias');
  });
});
