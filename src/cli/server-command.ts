// `meshpeer server`: starts one cluster's control plane and runs until SIGINT/SIGTERM.
import { hostname } from 'node:os';
import { Command } from 'commander';
import { parseGoDuration } from '../config-entries/duration.js';

function durationFlag(value: unknown, flag: string): number {
  const ms = typeof value === 'string' ? parseGoDuration(value) : undefined;
  if (ms === undefined || ms <= 0)
    throw new Error(`${flag} must be a positive duration like 500ms, 15s or 2m`);
  return ms;
}

export function serverCommand(): Command {
  return new Command('server')
    .description(
      'Run a meshpeer control-plane server: the catalog, config entries, peerings and CA of one cluster,\n' +
        'served over a Consul-compatible HTTP API and the gRPC peering port.',
    )
    .option('--http-addr <host:port>', 'HTTP API listen address', '127.0.0.1:8500')
    .option('--grpc-addr <host:port>', 'gRPC (peering) listen address', '127.0.0.1:8502')
    .option('--data-dir <dir>', 'directory for the state database (SQLite, durable on commit)')
    .option('--dev', 'keep all state in memory (nothing survives a restart)', false)
    .option('--datacenter <name>', 'datacenter (cluster) name', 'dc1')
    .option('--node-name <name>', 'name of the node agent services register on', hostname())
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
    .option('--acl-default-policy <allow|deny>', 'what ACLs allow where no rule applies', 'deny')
    .option(
      '--log-level <level>',
      'trace, debug, info, warn or error',
      process.env.MESHPEER_LOG_LEVEL ?? 'info',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  meshpeer server --dev\n  meshpeer server --data-dir /var/lib/meshpeer --http-addr 0.0.0.0:8500 --datacenter cluster-01',
    )
    .action(async (o: Record<string, string | boolean>) => {
      if (!o.dev && typeof o.dataDir !== 'string') {
        throw new Error('give --data-dir DIR for durable state, or --dev to keep state in memory');
      }
      const aclDefault = String(o.aclDefaultPolicy);
      if (aclDefault !== 'allow' && aclDefault !== 'deny') {
        throw new Error('--acl-default-policy must be allow or deny');
      }
      if (!o.aclEnabled && typeof o.aclInitialManagementToken === 'string') {
        throw new Error('--acl-initial-management-token needs --acl-enabled');
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
      const { startServer } = await import('../server/server.js');
      const server = await startServer({
        httpAddr: String(o.httpAddr),
        grpcAddr: String(o.grpcAddr),
        dataDir: o.dev ? undefined : String(o.dataDir),
        datacenter: String(o.datacenter),
        nodeName: String(o.nodeName),
        logLevel: String(o.logLevel),
        ...(typeof o.advertiseGrpc === 'string'
          ? { advertiseGrpc: o.advertiseGrpc.split(',').filter(Boolean) }
          : {}),
        ...(o.aclEnabled
          ? {
              acl: {
                defaultPolicy: aclDefault,
                ...(typeof o.aclInitialManagementToken === 'string' && o.aclInitialManagementToken !== ''
                  ? { initialManagementToken: o.aclInitialManagementToken }
                  : {}),
              },
            }
          : {}),
        peering: {
          heartbeatMs: durationFlag(o.peeringHeartbeatInterval, '--peering-heartbeat-interval'),
          timeoutMs: durationFlag(o.peeringHeartbeatTimeout, '--peering-heartbeat-timeout'),
          redialMaxMs: durationFlag(o.peeringRedialMax, '--peering-redial-max'),
          secretTtlMs: durationFlag(o.peeringTokenTtl, '--peering-token-ttl'),
          maxMessageBytes: Number(o.peeringMaxMessageBytes),
        },
      });
      await signal;
      await server.stop();
    });
}
