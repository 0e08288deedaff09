// Connects to etcd for the etcd store backend: validates the endpoint URLs, reads the TLS and password
// files (a missing or unreadable file is named in the error) and builds one etcd3 client.
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { Etcd3, type IOptions } from 'etcd3';
import { invalid } from '../shared/errors.js';
import { type EtcdConnectionOptions, parseEtcdEndpoints } from './etcd-config.js';

function readFile(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw invalid(`${flag} ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/** Builds the etcd3 client; throws (naming the flag) on bad options, does not contact etcd. */
export function connectEtcd(options: EtcdConnectionOptions): Etcd3 {
  const { hosts, tls } = parseEtcdEndpoints(options.endpoints);
  const usesTlsFiles = options.caFile ?? options.certFile ?? options.keyFile;
  if (!tls && usesTlsFiles !== undefined) {
    throw invalid('--etcd-ca-file/--etcd-cert-file/--etcd-key-file need https:// etcd endpoints');
  }
  if ((options.certFile === undefined) !== (options.keyFile === undefined)) {
    throw invalid('--etcd-cert-file and --etcd-key-file go together');
  }
  if ((options.username === undefined) !== (options.passwordFile === undefined)) {
    throw invalid('--etcd-username and --etcd-password-file go together');
  }
  const opts: IOptions = {
    hosts,
    dialTimeout: 5_000,
    // Reconnect to a member that comes back within seconds, not after gRPC's default backoff of up to 2
    // minutes; and a channel of our own, so another client's failed dials do not hold ours back.
    grpcOptions: {
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2_000,
      'grpc.use_local_subchannel_pool': 1,
      // A page of the initial load or a watch response catching up can exceed gRPC's default 4 MiB.
      'grpc.max_receive_message_length': 256 * 1024 * 1024,
    },
  };
  if (usesTlsFiles !== undefined) {
    opts.credentials = {
      rootCertificate:
        options.caFile === undefined
          ? Buffer.from(rootCertificates.join('\n'))
          : readFile(options.caFile, '--etcd-ca-file'),
      ...(options.keyFile === undefined ? {} : { privateKey: readFile(options.keyFile, '--etcd-key-file') }),
      ...(options.certFile === undefined
        ? {}
        : { certChain: readFile(options.certFile, '--etcd-cert-file') }),
    };
  }
  if (options.username !== undefined && options.passwordFile !== undefined) {
    const password = readFile(options.passwordFile, '--etcd-password-file').toString('utf8').trimEnd();
    if (password === '') throw invalid(`--etcd-password-file ${options.passwordFile} is empty`);
    opts.auth = { username: options.username, password };
  }
  return new Etcd3(opts);
}
