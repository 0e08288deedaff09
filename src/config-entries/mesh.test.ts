import { describe, expect, it } from 'vitest';
import { isMeshpeerError } from '../shared/errors.js';
import { type MeshEntry, peerThroughMeshGateways } from './mesh.js';
import { parseConfigEntryOfKind } from './registry.js';

function parse(input: Record<string, unknown>): MeshEntry {
  return parseConfigEntryOfKind('mesh', { Kind: 'mesh', ...input });
}

function errorOf(input: Record<string, unknown>): string {
  try {
    parse(input);
  } catch (err) {
    if (isMeshpeerError(err) && err.kind === 'invalid') return err.message;
    throw err;
  }
  throw new Error('expected the entry to be rejected');
}

describe('mesh', () => {
  it('fills Consul defaults for an empty entry', () => {
    expect(parse({})).toEqual({
      Kind: 'mesh',
      Name: 'mesh',
      TransparentProxy: { MeshDestinationsOnly: false },
      AllowEnablingPermissiveMutualTLS: false,
    });
  });

  it('accepts every documented field', () => {
    const input = {
      Name: 'mesh',
      Meta: { owner: 'platform' },
      Peering: { PeerThroughMeshGateways: true },
      TransparentProxy: { MeshDestinationsOnly: true },
      AllowEnablingPermissiveMutualTLS: true,
      TLS: {
        Incoming: {
          TLSMinVersion: 'TLSv1_2',
          TLSMaxVersion: 'TLSv1_3',
          CipherSuites: ['ECDHE-RSA-AES128-GCM-SHA256'],
        },
        Outgoing: { TLSMinVersion: 'TLSv1_3' },
      },
      HTTP: { SanitizeXForwardedClientCert: true },
    };
    expect(parse(input)).toEqual({ Kind: 'mesh', ...input });
  });

  it('defaults the booleans inside blocks that are given', () => {
    expect(parse({ Peering: {}, HTTP: {} })).toMatchObject({
      Peering: { PeerThroughMeshGateways: false },
      HTTP: { SanitizeXForwardedClientCert: false },
    });
  });

  it('rejects any name but "mesh"', () => {
    expect(errorOf({ Name: 'default' })).toBe(
      'invalid mesh config entry: Name: must be "mesh" for mesh (got "default")',
    );
  });

  it('rejects unknown fields, naming their path', () => {
    expect(errorOf({ Peering: { PeerThroughMeshGateway: true } })).toBe(
      'invalid mesh config entry: Peering.PeerThroughMeshGateway: unknown field',
    );
    expect(errorOf({ TLS: { Incoming: { MinVersion: 'TLSv1_2' } } })).toContain(
      'TLS.Incoming.MinVersion: unknown field',
    );
  });

  it('names the field and expected type for wrong types', () => {
    expect(errorOf({ Peering: { PeerThroughMeshGateways: 'true' } })).toBe(
      'invalid mesh config entry: Peering.PeerThroughMeshGateways: expected a boolean (true or false), got string "true"',
    );
    expect(errorOf({ TransparentProxy: true })).toContain(
      'TransparentProxy: expected an object, got boolean true',
    );
  });

  it('rejects unknown TLS versions, listing the valid ones', () => {
    expect(errorOf({ TLS: { Outgoing: { TLSMinVersion: '1.2' } } })).toContain(
      'TLS.Outgoing.TLSMinVersion: must be one of "", "TLS_AUTO", "TLSv1_0", "TLSv1_1", "TLSv1_2", "TLSv1_3" (got "1.2")',
    );
  });

  it('rejects a minimum version above the maximum', () => {
    expect(errorOf({ TLS: { Incoming: { TLSMinVersion: 'TLSv1_3', TLSMaxVersion: 'TLSv1_1' } } })).toContain(
      'TLS.Incoming.TLSMinVersion: TLSv1_3 is newer than TLSMaxVersion TLSv1_1',
    );
    expect(
      parse({ TLS: { Incoming: { TLSMinVersion: 'TLSv1_2', TLSMaxVersion: 'TLS_AUTO' } } }).TLS,
    ).toBeDefined();
  });

  it('rejects cipher suites with TLS 1.3 as the minimum, and duplicates', () => {
    expect(errorOf({ TLS: { Incoming: { TLSMinVersion: 'TLSv1_3', CipherSuites: ['A'] } } })).toContain(
      'TLS.Incoming.CipherSuites: cannot be set when TLSMinVersion is TLSv1_3',
    );
    expect(errorOf({ TLS: { Outgoing: { CipherSuites: ['A', 'A'] } } })).toContain(
      'TLS.Outgoing.CipherSuites[1]: A is listed more than once',
    );
  });

  it('tells whether peering goes through mesh gateways', () => {
    expect(peerThroughMeshGateways(undefined)).toBe(false);
    expect(peerThroughMeshGateways(parse({}))).toBe(false);
    expect(peerThroughMeshGateways(parse({ Peering: { PeerThroughMeshGateways: true } }))).toBe(true);
  });
});
