// TLS for the peering gRPC port. The acceptor presents its server certificate and does not ask the
// dialer for one (the dialer proves itself with the establishment / stream secret). The dialer trusts
// only the CA PEMs from the peering token and checks the certificate against the token's server name,
// whatever address it dials (a server IP, a load balancer, a mesh gateway routing by SNI).
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { invalid } from '../../shared/errors.js';

export interface ServerTlsMaterial {
  /** The server certificate, then any intermediates (PEM). */
  certChainPem: string;
  /** The server certificate's private key (PEM). */
  privateKeyPem: string;
  /** CA certificates offered for client verification; client certificates are never required. */
  caPems?: readonly string[];
}

/** ServerCredentials.createSsl(rootCa, [{ cert_chain, private_key }], checkClientCert = false). */
export function serverCredentials(material: ServerTlsMaterial): grpc.ServerCredentials {
  if (material.certChainPem.trim() === '' || material.privateKeyPem.trim() === '') {
    throw invalid('the gRPC server needs a certificate chain and a private key');
  }
  // Client certificates are never requested, so the CA list is never used; but given none, grpc-js loads
  // the whole file GRPC_DEFAULT_SSL_ROOTS_FILE_PATH names into the TLS context (~45 ms of start-up).
  const rootCa = pemBundle(
    material.caPems && material.caPems.length > 0 ? material.caPems : [material.certChainPem],
  );
  return grpc.ServerCredentials.createSsl(
    rootCa,
    [{ cert_chain: Buffer.from(material.certChainPem), private_key: Buffer.from(material.privateKeyPem) }],
    false,
  );
}

export interface DialTlsTarget {
  /** The acceptor's CA certificates (the token's `CA`); nothing else is trusted. */
  caPems: readonly string[];
  /** The name the acceptor's certificate must carry (the token's `ServerName`); also sent as SNI. */
  serverName: string;
}

export interface DialTls {
  credentials: grpc.ChannelCredentials;
  /** Channel options to pass with the credentials (ClientOptions.channelOptions). */
  channelOptions: grpc.ChannelOptions;
}

/**
 * Credentials for dialing an acceptor: credentials.createSsl(caPem, null, null, { checkServerIdentity })
 * plus 'grpc.ssl_target_name_override', so SNI and the identity check both use `serverName`.
 */
export function dialerCredentials(target: DialTlsTarget): DialTls {
  if (target.caPems.length === 0 || target.caPems.every((pem) => pem.trim() === '')) {
    throw invalid('the peering token carries no CA certificate to verify the peer with');
  }
  const serverName = target.serverName.trim();
  if (serverName === '') {
    throw invalid('the peering token carries no server name to verify the peer with');
  }
  const credentials = grpc.credentials.createSsl(pemBundle(target.caPems), null, null, {
    // Verify against the token's server name, never the dialed host.
    checkServerIdentity: (_host: string, cert: PeerCertificate) => checkServerIdentity(serverName, cert),
  });
  return { credentials, channelOptions: { 'grpc.ssl_target_name_override': serverName } };
}

function pemBundle(pems: readonly string[]): Buffer {
  return Buffer.from(
    pems
      .map((pem) => pem.trim())
      .filter((pem) => pem !== '')
      .join('\n')
      .concat('\n'),
  );
}
