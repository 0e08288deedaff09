// `meshpeer server`: starts one cluster's control plane and runs until SIGINT/SIGTERM.
import { readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { Command } from 'commander';
import { parseGoDuration } from '../config-entries/duration.js';
import { bindEarly, type EarlyListener, takePreBound } from '../server/early-listener.js';
import { parseHostPort } from '../shared/address.js';
import { etcdFlagValues, etcdStoreConfig } from '../store/etcd-config.js';

export const MANAGEMENT_TOKEN_ENV = 'MESHPEER_ACL_INITIAL_MANAGEMENT_TOKEN';

function positiveIntFlag(value: unknown, flag: string): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${flag} must be a positive whole number`);
  return n;
}

/**
 * The initial management token, from exactly one of: --acl-initial-management-token-file (the file's
 * content, surrounding whitespace trimmed), --acl-initial-management-token (visible to every local
 * user in `ps`, so a warning is logged), or the MESHPEER_ACL_INITIAL_MANAGEMENT_TOKEN variable.
 */
function managementToken(o: Record<string, unknown>, warnings: string[]): string | undefined {
  const flag = typeof o.aclInitialManagementToken === 'string' ? o.aclInitialManagementToken : undefined;
  const file =
    typeof o.aclInitialManagementTokenFile === 'string' ? o.aclInitialManagementTokenFile : undefined;
  if (flag !== undefined && file !== undefined) {
    throw new Error(
      'give the management token once: --acl-initial-management-token or --acl-initial-management-token-file',
    );
  }
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(
        `--acl-initial-management-token-file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      );
    }
    const secret = text.trim();
    if (secret === '') throw new Error(`--acl-initial-management-token-file ${file} is empty`);
    if ((statSync(file).mode & 0o077) !== 0) {
      warnings.push(
        `the management token file ${file} can be read by other users; chmod 600 it to keep the secret private`,
      );
    }
    return secret;
  }
  if (flag !== undefined && flag !== '') {
    warnings.push(
      '--acl-initial-management-token puts the secret on the command line, where every local user can ' +
        `read it (ps); prefer --acl-initial-management-token-file or ${MANAGEMENT_TOKEN_ENV}`,
    );
    return flag;
  }
  const env = process.env[MANAGEMENT_TOKEN_ENV]?.trim();
  return env === undefined || env === '' ? undefined : env;
}

/** --http-tls-cert and --http-tls-key: both or neither; the server reads the files at start. */
function httpTlsFlags(o: Record<string, unknown>): { httpTls?: { certFile: string; keyFile: string } } {
  const certFile = typeof o.httpTlsCert === 'string' ? o.httpTlsCert : undefined;
  const keyFile = typeof o.httpTlsKey === 'string' ? o.httpTlsKey : undefined;
  if (certFile === undefined && keyFile === undefined) return {};
  if (certFile === undefined || keyFile === undefined) {
    throw new Error('--http-tls-cert and --http-tls-key go together: give both');
  }
  return { httpTls: { certFile, keyFile } };
}

function durationFlag(value: unknown, flag: string): number {
  const ms = typeof value === 'string' ? parseGoDuration(value) : undefined;
  if (ms === undefined || ms <= 0)
    throw new Error(`${flag} must be a positive duration like 500ms, 15s or 2m`);
  return ms;
}

/** --advertise: an IP address or host name, without a port. */
function advertiseFlag(value: string): string {
  const v = value.trim();
  if (v === '' || /[\s/]/.test(v) || (/:\d+$/.test(v) && !v.includes('::') && v.split(':').length === 2))
    throw new Error(
      `--advertise must be an IP address or host name without a port, got ${JSON.stringify(value)}`,
    );
  return v.replace(/^\[(.*)\]$/, '$1');
}

/** etcd leases are whole seconds, and etcd raises shorter ones to its minimum anyway. */
function leaseTtlSeconds(value: unknown): number {
  const ms = durationFlag(value, '--leader-lease-ttl');
  if (ms < 2_000 || ms % 1_000 !== 0)
    throw new Error('--leader-lease-ttl must be whole seconds, at least 2s (etcd leases are in seconds)');
  return ms / 1_000;
}

async function bindEarlyListener(httpAddr: string): Promise<EarlyListener> {
  const { host, port } = parseHostPort(httpAddr, '--http-addr');
  return takePreBound(host, port) ?? bindEarly(host, port);
}

function nodeMetaFlag(values: unknown): Record<string, string> {
  const meta: Record<string, string> = {};
  for (const v of Array.isArray(values) ? values : []) {
    const i = String(v).indexOf(':');
    if (i <= 0) throw new Error(`--node-meta must be key:value, got ${JSON.stringify(v)}`);
    meta[String(v).slice(0, i)] = String(v).slice(i + 1);
  }
  return meta;
}

export function serverCommand(): Command {
  return new Command('server')
    .description(
      'Run a meshpeer control-plane server: the catalog, config entries, peerings and CA of one cluster,\n' +
        'served over a Consul-compatible HTTP API and the gRPC peering port.',
    )
    .option('--http-addr <host:port>', 'HTTP API listen address', '127.0.0.1:8500')
    .option(
      '--http-tls-cert <file>',
      'serve the HTTP API over HTTPS only, with this PEM certificate chain (needs --http-tls-key)',
    )
    .option('--http-tls-key <file>', 'PEM private key of --http-tls-cert')
    .option('--grpc-addr <host:port>', 'gRPC (peering) listen address', '127.0.0.1:8502')
    .option('--data-dir <dir>', 'directory for the state database (SQLite, durable on commit)')
    .option('--dev', 'keep all state in memory (nothing survives a restart)', false)
    .option(
      '--store <sqlite|etcd>',
      'where state lives: sqlite (under --data-dir) or etcd (shared by servers)',
      'sqlite',
    )
    .option('--etcd-endpoints <url,...>', 'etcd client URLs, e.g. https://etcd-0:2379,https://etcd-1:2379')
    .option('--etcd-prefix <prefix>', 'key prefix of this cluster in etcd (default /meshpeer/<datacenter>/)')
    .option('--etcd-ca-file <file>', 'PEM CA bundle that signed the etcd members (https endpoints)')
    .option('--etcd-cert-file <file>', 'PEM client certificate for etcd (with --etcd-key-file)')
    .option('--etcd-key-file <file>', 'PEM key of --etcd-cert-file')
    .option('--etcd-username <user>', 'etcd user (etcd auth; with --etcd-password-file)')
    .option('--etcd-password-file <file>', "file holding the etcd user's password")
    .option(
      '--advertise <ip>',
      "this server's address as others reach it: its node's Address and what /v1/status/leader|peers report (default: the --http-addr host, or 127.0.0.1 when that is 0.0.0.0)",
    )
    .option(
      '--leader-lease-ttl <duration>',
      'with --store etcd: how long a leader that stopped answering holds the leadership (etcd lease; whole seconds, min 2s)',
      '3s',
    )
    .option('--datacenter <name>', 'datacenter (cluster) name', 'dc1')
    .option('--node-name <name>', 'name of the node agent services register on', hostname())
    .option('--node-id <uuid>', "the node's ID (Consul's node_id)")
    .option(
      '--ca-cluster-id <uuid>',
      "Consul's connect.ca_config.cluster_id: a new CA's trust domain is <uuid>.consul (an existing CA keeps its own)",
    )
    .option(
      '--node-meta <key:value>',
      "meta of the server's own node (repeat for several)",
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option(
      '--advertise-grpc <host:port,...>',
      'gRPC addresses put in peering tokens (default: the bound --grpc-addr)',
    )
    .option(
      '--peering-heartbeat-interval <duration>',
      'how often each side of a peering stream sends a heartbeat',
      '15s',
    )
    .option(
      '--peering-heartbeat-timeout <duration>',
      'silence after which a peering is FAILING and its stream redialed',
      '2m',
    )
    .option(
      '--peering-redial-max <duration>',
      'longest wait between redials of a failing peering (backoff with jitter)',
      '30s',
    )
    .option(
      '--peering-token-ttl <duration>',
      'how long an unused peering token (establishment secret) stays valid',
      '24h',
    )
    .option(
      '--peering-max-message-bytes <n>',
      'largest peering stream message accepted or sent',
      String(4 * 1024 * 1024),
    )
    .option(
      '--acl-enabled',
      'require ACL tokens (X-Consul-Token or Authorization: Bearer) on the HTTP API',
      false,
    )
    .option(
      '--acl-initial-management-token <secret>',
      'secret of the token allowed everything (with --acl-enabled)',
    )
    .option(
      '--acl-initial-management-token-file <path>',
      `file holding that secret (kept out of ps); or set ${MANAGEMENT_TOKEN_ENV}`,
    )
    .option('--acl-default-policy <allow|deny>', 'what ACLs allow where no rule applies', 'deny')
    .option(
      '--allow-insecure-data-dir',
      'start even if other users can access --data-dir (it holds CA keys and ACL/peering secrets)',
      false,
    )
    .option(
      '--http-header-timeout <duration>',
      'close an HTTP connection whose request line and headers have not arrived in this time',
      '10s',
    )
    .option(
      '--http-request-timeout <duration>',
      'close an HTTP connection whose whole request (headers and body) has not arrived in this time; ' +
        'blocking queries wait after their request has arrived and are not limited by it',
      '30s',
    )
    .option(
      '--http-max-connections <n>',
      'most HTTP connections open at once; more are closed as they arrive',
      '4096',
    )
    .option('--ui <true|false>', 'serve the web UI at /ui/', 'true')
    .option(
      '--log-level <level>',
      'trace, debug, info, warn or error',
      process.env.MESHPEER_LOG_LEVEL ?? 'info',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  meshpeer server --dev\n  meshpeer server --data-dir /var/lib/meshpeer --http-addr 0.0.0.0:8500 --datacenter cluster-01',
    )
    .action(async (o: Record<string, string | boolean | string[]>) => {
      const etcd = etcdStoreConfig(String(o.store), etcdFlagValues(o), String(o.datacenter));
      if (etcd !== undefined && (o.dev || typeof o.dataDir === 'string')) {
        throw new Error('--store etcd keeps state in etcd: drop --dev and --data-dir');
      }
      if (etcd === undefined && !o.dev && typeof o.dataDir !== 'string') {
        throw new Error('give --data-dir DIR for durable state, or --dev to keep state in memory');
      }
      const aclDefault = String(o.aclDefaultPolicy);
      if (aclDefault !== 'allow' && aclDefault !== 'deny') {
        throw new Error('--acl-default-policy must be allow or deny');
      }
      if (
        !o.aclEnabled &&
        (typeof o.aclInitialManagementToken === 'string' ||
          typeof o.aclInitialManagementTokenFile === 'string')
      ) {
        throw new Error('--acl-initial-management-token and its -file variant need --acl-enabled');
      }
      const warnings: string[] = [];
      const initialManagementToken = o.aclEnabled ? managementToken(o, warnings) : undefined;
      const httpLimits = {
        headersTimeoutMs: durationFlag(o.httpHeaderTimeout, '--http-header-timeout'),
        requestTimeoutMs: durationFlag(o.httpRequestTimeout, '--http-request-timeout'),
        maxConnections: positiveIntFlag(o.httpMaxConnections, '--http-max-connections'),
      };
      if (o.ui !== 'true' && o.ui !== 'false') throw new Error('--ui must be true or false');
      if (httpLimits.headersTimeoutMs > httpLimits.requestTimeoutMs) {
        throw new Error('--http-header-timeout must not be longer than --http-request-timeout');
      }
      // Signals are handled from the start: one that arrives while the server starts (or the moment it
      // logs "server ready") stops it once it is up, instead of killing it half-way.
      let signalled!: () => void;
      const signal = new Promise<void>((resolve) => {
        signalled = resolve;
      });
      const onSignal = (): void => {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        signalled();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      // Loaded on use: client commands should not pay for the server's modules at start-up.
      // Plain HTTP: bind the API's port before loading the server (see src/server/early-listener.ts).
      const early =
        httpTlsFlags(o).httpTls === undefined ? await bindEarlyListener(String(o.httpAddr)) : undefined;
      const { startServer } = await import('../server/server.js').catch((err: unknown) => {
        early?.close();
        throw err;
      });
      const server = await startServer({
        httpAddr: String(o.httpAddr),
        ...(early !== undefined ? { httpListener: early } : {}),
        grpcAddr: String(o.grpcAddr),
        ...httpTlsFlags(o),
        dataDir: o.dev || etcd !== undefined ? undefined : String(o.dataDir),
        ...(etcd !== undefined ? { etcd, leaderLeaseTtlSeconds: leaseTtlSeconds(o.leaderLeaseTtl) } : {}),
        datacenter: String(o.datacenter),
        nodeName: String(o.nodeName),
        ...(typeof o.advertise === 'string' ? { advertiseAddress: advertiseFlag(o.advertise) } : {}),
        ...(typeof o.nodeId === 'string' ? { nodeId: o.nodeId } : {}),
        ...(typeof o.caClusterId === 'string' ? { caClusterId: o.caClusterId } : {}),
        nodeMeta: nodeMetaFlag(o.nodeMeta),
        logLevel: String(o.logLevel),
        ...(typeof o.advertiseGrpc === 'string'
          ? { advertiseGrpc: o.advertiseGrpc.split(',').filter(Boolean) }
          : {}),
        ...(o.aclEnabled
          ? {
              acl: {
                defaultPolicy: aclDefault,
                ...(initialManagementToken !== undefined ? { initialManagementToken } : {}),
              },
            }
          : {}),
        allowInsecureDataDir: o.allowInsecureDataDir === true,
        httpLimits,
        ui: o.ui === 'true',
        warnings,
        peering: {
          heartbeatMs: durationFlag(o.peeringHeartbeatInterval, '--peering-heartbeat-interval'),
          timeoutMs: durationFlag(o.peeringHeartbeatTimeout, '--peering-heartbeat-timeout'),
          redialMaxMs: durationFlag(o.peeringRedialMax, '--peering-redial-max'),
          secretTtlMs: durationFlag(o.peeringTokenTtl, '--peering-token-ttl'),
          maxMessageBytes: Number(o.peeringMaxMessageBytes),
        },
      }).catch((err: unknown) => {
        early?.close();
        throw err;
      });
      await signal;
      await server.stop();
    });
}
