import { describe, expect, it } from 'vitest';
import { EXPORTED_SERVICES, MESH, SERVICE_INTENTIONS } from './config-entry-kinds.js';
import { type CustomResource, PEERING_ACCEPTOR, PEERING_DIALER, type ResourceKind } from './resources.js';
import { duplicateMessage, type KindedResource, olderOwnerOf, othersNamingSameObject } from './uniqueness.js';

function r(
  kind: ResourceKind,
  namespace: string,
  name: string,
  created: string,
  spec: Record<string, unknown> = {},
  deleting = false,
): KindedResource {
  const obj: CustomResource = {
    apiVersion: 'consul.hashicorp.com/v1alpha1',
    kind: kind.kind,
    metadata: {
      namespace,
      name,
      creationTimestamp: created,
      ...(deleting ? { deletionTimestamp: '2026-01-02T00:00:00Z' } : {}),
    },
    spec,
  } as CustomResource;
  return { kind, obj };
}

const t1 = '2026-01-01T00:00:01Z';
const t2 = '2026-01-01T00:00:02Z';

describe('othersNamingSameObject', () => {
  it.each([
    { name: 'Mesh in two namespaces', a: r(MESH, 'a', 'mesh', t1), b: r(MESH, 'b', 'mesh', t2), same: true },
    {
      name: 'acceptors of one peer name',
      a: r(PEERING_ACCEPTOR, 'a', 'c2', t1),
      b: r(PEERING_ACCEPTOR, 'b', 'c2', t2),
      same: true,
    },
    {
      name: 'an acceptor and a dialer of one peer name, even in one namespace',
      a: r(PEERING_ACCEPTOR, 'a', 'c2', t1),
      b: r(PEERING_DIALER, 'a', 'c2', t2),
      same: true,
    },
    {
      name: 'ServiceIntentions of one destination under different names',
      a: r(SERVICE_INTENTIONS, 'a', 'x', t1, { destination: { name: 'web' } }),
      b: r(SERVICE_INTENTIONS, 'b', 'y', t2, { destination: { name: 'web' } }),
      same: true,
    },
    {
      name: 'config entries of different kinds and one name',
      a: r(EXPORTED_SERVICES, 'a', 'default', t1),
      b: r(MESH, 'b', 'default', t2),
      same: false,
    },
    {
      name: 'a resource being deleted',
      a: r(MESH, 'a', 'mesh', t1),
      b: r(MESH, 'b', 'mesh', t2, {}, true),
      same: false,
    },
  ])('$name: $same', ({ a, b, same }) => {
    expect(othersNamingSameObject(a, [a, b]).length > 0).toBe(same);
  });
});

describe('olderOwnerOf', () => {
  const older = r(PEERING_ACCEPTOR, 'b', 'c2', t1);
  const younger = r(PEERING_ACCEPTOR, 'a', 'c2', t2);

  it('leaves the object to the oldest resource', () => {
    expect(olderOwnerOf(younger, [older, younger])).toBe(older);
    expect(olderOwnerOf(older, [older, younger])).toBeUndefined();
  });

  it('breaks a tie of creation times by namespace, the same way in every controller', () => {
    const a = r(MESH, 'a', 'mesh', t1);
    const b = r(MESH, 'b', 'mesh', t1);
    expect(olderOwnerOf(b, [a, b])).toBe(a);
    expect(olderOwnerOf(a, [a, b])).toBeUndefined();
  });

  it('says which resource holds the object and what to do', () => {
    expect(duplicateMessage(younger, older)).toBe(
      'PeeringAcceptor "c2" in namespace "b" already manages the peering "c2" on the server; a cluster has one ' +
        'per name, so PeeringAcceptor "c2" in namespace "a" would overwrite it (and deleting either would ' +
        'delete it). Use PeeringAcceptor "c2" in namespace "b", or delete it first',
    );
  });
});
