// Turns the server's --store/--etcd-* flag values into the etcd store's configuration, checking them
// (every mistake is named with its flag) before anything connects. No etcd client here: the CLI loads this
// at start-up.
import { invalid } from '../shared/errors.js';

export interface EtcdConnectionOptions {
  /** Client URLs of the members, all http:// or all https://. */
  readonly endpoints: readonly string[];
  /** CA bundle that signed the members' certificates (https; default: the system roots). */
  readonly caFile?: string;
  /** Client certificate and key, for members that require client certificates. */
  readonly certFile?: string;
  readonly keyFile?: string;
  /** etcd user (auth enabled on the cluster); the password comes from passwordFile. */
  readonly username?: string;
  readonly passwordFile?: string;
}

export interface EtcdStoreConfig extends EtcdConnectionOptions {
  readonly backend: 'etcd';
  /** Key prefix, ending with '/': e.g. /meshpeer/dc1/. */
  readonly prefix: string;
  readonly requestTimeoutMs?: number;
}

export interface EtcdFlagValues {
  /** Comma-separated client URLs. */
  readonly endpoints?: string;
  readonly prefix?: string;
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly username?: string;
  readonly passwordFile?: string;
}

/** Checks the endpoints: a non-empty list of http(s)://host:port URLs sharing one scheme. */
export function parseEtcdEndpoints(endpoints: readonly string[]): { hosts: string[]; tls: boolean } {
  if (endpoints.length === 0) throw invalid('--etcd-endpoints: give at least one etcd client URL');
  const schemes = new Set<string>();
  const hosts: string[] = [];
  for (const raw of endpoints) {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw invalid(`--etcd-endpoints: ${JSON.stringify(raw)} is not a URL (expected https://host:2379)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw invalid(`--etcd-endpoints: ${raw} must start with http:// or https://`);
    }
    if (url.port === '' || (url.pathname !== '/' && url.pathname !== '')) {
      throw invalid(`--etcd-endpoints: ${raw} must be scheme://host:port with nothing after the port`);
    }
    schemes.add(url.protocol);
    hosts.push(`${url.protocol}//${url.host}`);
  }
  if (schemes.size > 1) throw invalid('--etcd-endpoints: mix of http:// and https:// endpoints');
  return { hosts, tls: schemes.has('https:') };
}

/** The --etcd-* values of a commander options record (camel-cased flag names). */
export function etcdFlagValues(o: Record<string, unknown>): EtcdFlagValues {
  const pick = (name: string): string | undefined =>
    typeof o[name] === 'string' ? (o[name] as string) : undefined;
  const values: Record<string, string | undefined> = {
    endpoints: pick('etcdEndpoints'),
    prefix: pick('etcdPrefix'),
    caFile: pick('etcdCaFile'),
    certFile: pick('etcdCertFile'),
    keyFile: pick('etcdKeyFile'),
    username: pick('etcdUsername'),
    passwordFile: pick('etcdPasswordFile'),
  };
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));
}

/** The default key prefix: one per datacenter, so several clusters can share one etcd. */
export const defaultEtcdPrefix = (datacenter: string): string => `/meshpeer/${datacenter}/`;

/**
 * The etcd configuration for `--store etcd`, or undefined for another store (then no --etcd-* flag may
 * be given).
 */
export function etcdStoreConfig(
  store: string,
  values: EtcdFlagValues,
  datacenter: string,
): EtcdStoreConfig | undefined {
  if (store !== 'sqlite' && store !== 'etcd') throw invalid(`--store must be sqlite or etcd, not ${store}`);
  const given = Object.entries(values).filter(([, v]) => v !== undefined);
  if (store !== 'etcd') {
    if (given.length > 0) throw invalid('--etcd-* flags need --store etcd');
    return undefined;
  }
  if (values.endpoints === undefined) {
    throw invalid('--store etcd needs --etcd-endpoints https://host:2379,... (the etcd members)');
  }
  const endpoints = values.endpoints
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  parseEtcdEndpoints(endpoints);
  const prefix = values.prefix ?? defaultEtcdPrefix(datacenter);
  if (prefix === '' || !prefix.endsWith('/')) {
    throw invalid(`--etcd-prefix ${JSON.stringify(prefix)} must end with / (e.g. /meshpeer/${datacenter}/)`);
  }
  return {
    backend: 'etcd',
    endpoints,
    prefix,
    ...(values.caFile === undefined ? {} : { caFile: values.caFile }),
    ...(values.certFile === undefined ? {} : { certFile: values.certFile }),
    ...(values.keyFile === undefined ? {} : { keyFile: values.keyFile }),
    ...(values.username === undefined ? {} : { username: values.username }),
    ...(values.passwordFile === undefined ? {} : { passwordFile: values.passwordFile }),
  };
}
