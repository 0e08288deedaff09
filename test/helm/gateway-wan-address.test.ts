// meshGateway.wanAddress.source: what each source renders for the address the gateways register, and the
// port that goes with it (the Service's unless told otherwise). test/k8s/gateway-wan-address.test.ts reads
// real Services for the "Service" source.
import { describe, expect, it } from 'vitest';
import {
  commandOf,
  containerOf,
  find,
  flag,
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

function gateway(objects: K8sObject[]): K8sObject {
  return find(objects, 'Deployment', 'consul-mesh-gateway');
}

function withGateway(meshGateway: Values): Values {
  return merge(seedValues, { meshGateway });
}

describe('meshGateway.wanAddress.source', () => {
  it('Service (the default) with a LoadBalancer: each gateway reads its Service, with only get on it', () => {
    const objects = render(seedValues);
    const command = commandOf(gateway(objects));
    expect(flag(command, '--advertise-service')).toBe('mesh/consul-mesh-gateway');
    expect(command).not.toContain('--advertise-node-address');
    expect(command).not.toContain('--advertise-wan');
    // The pod IP stays the address this cluster's sidecars dial.
    expect(flag(command, '--advertise')).toBe('$(POD_IP):8443');
    const pod = gateway(objects).spec?.template?.spec;
    expect(pod?.serviceAccountName).toBe('consul-mesh-gateway');
    expect(pod?.automountServiceAccountToken).toBeUndefined();
    expect(find(objects, 'Role', 'consul-mesh-gateway').rules).toEqual([
      { apiGroups: [''], resources: ['services'], resourceNames: ['consul-mesh-gateway'], verbs: ['get'] },
    ]);
    expect(find(objects, 'RoleBinding', 'consul-mesh-gateway').subjects).toEqual([
      { kind: 'ServiceAccount', name: 'consul-mesh-gateway', namespace: 'mesh' },
    ]);
  });

  it("Service with a NodePort: the node's address comes from the pod's status.hostIP", () => {
    const objects = render(withGateway({ service: { type: 'NodePort' } }));
    const command = commandOf(gateway(objects));
    expect(flag(command, '--advertise-service')).toBe('mesh/consul-mesh-gateway');
    expect(flag(command, '--advertise-node-address')).toBe('$(HOST_IP)');
    expect(containerOf(gateway(objects)).env).toContainEqual({
      name: 'HOST_IP',
      valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } },
    });
  });

  it('NodeIP: the node IP with meshGateway.hostPort, opened on the node', () => {
    const objects = render(withGateway({ wanAddress: { source: 'NodeIP' }, hostPort: 30443 }));
    const command = commandOf(gateway(objects));
    expect(flag(command, '--advertise-wan')).toBe('$(HOST_IP):30443');
    expect(command).not.toContain('--advertise-service');
    expect(containerOf(gateway(objects)).ports?.[0]).toMatchObject({ containerPort: 8443, hostPort: 30443 });
    // No Kubernetes API access needed.
    expect(gateway(objects).spec?.template?.spec.automountServiceAccountToken).toBe(false);
    expect(objects.filter((o) => o.kind === 'Role')).toEqual([]);
  });

  it("NodeName: the node's name with the NodePort Service's node port", () => {
    const objects = render(
      withGateway({ wanAddress: { source: 'NodeName' }, service: { type: 'NodePort', nodePort: 30500 } }),
    );
    expect(flag(commandOf(gateway(objects)), '--advertise-wan')).toBe('$(NODE_NAME):30500');
    expect(containerOf(gateway(objects)).env).toContainEqual({
      name: 'NODE_NAME',
      valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } },
    });
  });

  it("Static: wanAddress.static with the Service's port, not 443", () => {
    const objects = render(withGateway({ wanAddress: { source: 'Static', static: 'gw.example.com' } }));
    expect(flag(commandOf(gateway(objects)), '--advertise-wan')).toBe('gw.example.com:8443');
  });

  it('Static, NodeIP and NodeName take wanAddress.port when it is set', () => {
    for (const source of ['Static', 'NodeIP', 'NodeName']) {
      const objects = render(withGateway({ wanAddress: { source, static: '203.0.113.7', port: 443 } }));
      expect(flag(commandOf(gateway(objects)), '--advertise-wan'), source).toMatch(/:443$/);
    }
  });

  it('says in NOTES where peers reach the gateways', () => {
    expect(notes(seedValues)).toContain(
      'Peers reach the gateways at the address of that Service (its LoadBalancer ingress)',
    );
    expect(notes(withGateway({ wanAddress: { source: 'Static', static: 'gw.example.com' } }))).toContain(
      'Peers reach the gateways at gw.example.com:8443',
    );
  });

  it('refuses Static without an address, and NodeIP/NodeName without a port on the node', () => {
    const noStatic = template(withGateway({ wanAddress: { source: 'Static' } }));
    expect(noStatic.status).not.toBe(0);
    expect(noStatic.stderr).toContain(
      'setting meshGateway.wanAddress.source to Static requires meshGateway.wanAddress.static',
    );
    const noPort = template(withGateway({ wanAddress: { source: 'NodeIP' } }));
    expect(noPort.status).not.toBe(0);
    expect(noPort.stderr).toContain(
      'setting meshGateway.wanAddress.source to NodeIP requires a port open on the node: set meshGateway.hostPort',
    );
  });

  it('rejects an unknown source', () => {
    const r = template(withGateway({ wanAddress: { source: 'Pod' } }));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("'/meshGateway/wanAddress/source'");
  });
});

describe('meshGateway.engine', () => {
  it('runs the gateway on HAProxy with "haproxy", on nginx with "nginx", and as before by default', () => {
    expect(commandOf(gateway(render(seedValues)))).not.toContain('--engine');
    for (const engine of ['haproxy', 'nginx']) {
      const command = commandOf(gateway(render(withGateway({ engine }))));
      expect(flag(command, '--engine')).toBe(engine);
    }
  });

  it('rejects an unknown engine', () => {
    const r = template(withGateway({ engine: 'envoy' }));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("'/meshGateway/engine'");
  });
});
