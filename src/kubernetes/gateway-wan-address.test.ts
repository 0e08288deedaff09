import type { V1Service } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { wanAddressFromService } from './gateway-wan-address.js';

function service(spec: V1Service['spec'], status?: V1Service['status']): V1Service {
  return { metadata: { namespace: 'mesh', name: 'gw' }, spec, ...(status ? { status } : {}) };
}

const ports = [
  { name: 'metrics', port: 9102 },
  { name: 'gateway', port: 8443, nodePort: 30443 },
];

describe('wanAddressFromService', () => {
  it.each([
    {
      name: 'LoadBalancer with an IP ingress: the IP and the Service port',
      svc: service({ type: 'LoadBalancer', ports }, { loadBalancer: { ingress: [{ ip: '203.0.113.9' }] } }),
      want: { host: '203.0.113.9', port: 8443, from: 'LoadBalancer ingress of Service mesh/gw' },
    },
    {
      name: 'LoadBalancer with a host name ingress (AWS ELB): the host name',
      svc: service(
        { type: 'LoadBalancer', ports },
        { loadBalancer: { ingress: [{ hostname: 'a1.elb.example.com' }] } },
      ),
      want: { host: 'a1.elb.example.com', port: 8443, from: 'LoadBalancer ingress of Service mesh/gw' },
    },
    {
      name: 'NodePort: the node address and the node port',
      svc: service({ type: 'NodePort', ports }),
      node: '192.0.2.4',
      want: { host: '192.0.2.4', port: 30443, from: 'node port of Service mesh/gw on 192.0.2.4' },
    },
    {
      name: 'ClusterIP: the cluster IP and the Service port',
      svc: service({ type: 'ClusterIP', clusterIP: '10.0.0.12', ports }),
      want: { host: '10.0.0.12', port: 8443, from: 'cluster IP of Service mesh/gw' },
    },
    {
      name: 'the first port when none is named gateway',
      svc: service({ type: 'ClusterIP', clusterIP: '10.0.0.12', ports: [{ port: 443 }] }),
      want: { host: '10.0.0.12', port: 443, from: 'cluster IP of Service mesh/gw' },
    },
  ])('$name', ({ svc, node, want }) => {
    expect(wanAddressFromService(svc, node)).toEqual(want);
  });

  it.each([
    {
      name: 'a LoadBalancer not provisioned yet',
      svc: service({ type: 'LoadBalancer', ports }),
      reason: 'the LoadBalancer of Service mesh/gw has no ingress address yet',
    },
    {
      name: 'a NodePort without the node address',
      svc: service({ type: 'NodePort', ports }),
      reason: "Service mesh/gw is a NodePort: the node's address is needed (--advertise-node-address)",
    },
    {
      name: 'a headless Service',
      svc: service({ type: 'ClusterIP', clusterIP: 'None', ports }),
      reason: 'Service mesh/gw has no cluster IP',
    },
    {
      name: 'an ExternalName Service',
      svc: service({ type: 'ExternalName', externalName: 'x.example.com', ports }),
      reason: 'Service mesh/gw is of type ExternalName, which has no address peers can dial',
    },
    {
      name: 'a Service without ports',
      svc: service({ type: 'ClusterIP' }),
      reason: 'Service mesh/gw has no port',
    },
  ])('waits, saying why, for $name', ({ svc, reason }) => {
    expect(wanAddressFromService(svc, undefined)).toEqual({ pending: reason });
  });
});
