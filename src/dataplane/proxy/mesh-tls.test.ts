import { describe, expect, it } from 'vitest';
import { parseConfigEntryOfKind } from '../../config-entries/index.js';
import { DEFAULT_MESH_TLS, meshTlsFrom } from './mesh-tls.js';

const mesh = (tls: unknown) => parseConfigEntryOfKind('mesh', { Kind: 'mesh', Name: 'mesh', TLS: tls });

describe('meshTlsFrom', () => {
  it('accepts and offers TLS 1.2-1.3 without an entry or with TLS_AUTO', () => {
    expect(meshTlsFrom(undefined)).toEqual(DEFAULT_MESH_TLS);
    const auto = meshTlsFrom(
      mesh({
        Incoming: { TLSMaxVersion: 'TLS_AUTO' },
        Outgoing: { TLSMinVersion: '', TLSMaxVersion: 'TLS_AUTO' },
      }),
    );
    expect(auto.incoming).toEqual({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' });
    expect(auto.outgoing).toEqual({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' });
  });

  it('takes the versions each direction sets', () => {
    const tls = meshTlsFrom(
      mesh({ Incoming: { TLSMinVersion: 'TLSv1_3' }, Outgoing: { TLSMaxVersion: 'TLSv1_2' } }),
    );
    expect(tls.incoming).toEqual({ minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' });
    expect(tls.outgoing).toEqual({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
  });

  it('raises a default maximum below a configured minimum, and lowers a default minimum above a maximum', () => {
    expect(meshTlsFrom(mesh({ Outgoing: { TLSMinVersion: 'TLSv1_3' } })).outgoing).toEqual({
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
    });
    expect(meshTlsFrom(mesh({ Incoming: { TLSMaxVersion: 'TLSv1_1' } })).incoming).toEqual({
      minVersion: 'TLSv1.1',
      maxVersion: 'TLSv1.1',
    });
  });

  it("translates Consul's cipher suite names to OpenSSL's and reports the unknown ones", () => {
    const tls = meshTlsFrom(
      mesh({
        Outgoing: {
          CipherSuites: [
            'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
            'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305',
            'TLS_MADE_UP',
          ],
        },
      }),
    );
    expect(tls.outgoing.ciphers).toBe('ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305');
    expect(tls.incoming.ciphers).toBeUndefined();
    expect(tls.unknownCipherSuites).toEqual(['TLS_MADE_UP']);
  });
});
