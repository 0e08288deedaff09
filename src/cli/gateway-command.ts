// `meshpeer gateway`: runs a mesh gateway against a meshpeer server until SIGINT/SIGTERM.
// Also holds the flag handling `meshpeer proxy` shares with it.
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseGoDuration } from '../config-entries/duration.js';
import type { RunningComponent } from '../dataplane/component-process.js';
import { type Endpoint, formatEndpoint, parseEndpoint } from '../dataplane/endpoint.js';
import type { GatewayEngine } from '../dataplane/run-gateway.js';
import { invalid, isMeshpeerError } from '../shared/errors.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { untilShutdownSignal } from '../shared/shutdown-signal.js';
import { DEFAULT_HTTP_ADDR, normalizeHttpAddr } from './http-client.js';
import { CliError } from './io.js';

interface GatewayFlags extends ProcessFlags {
  listen: Endpoint;
  serviceName: string;
  register?: boolean;
  advertise?: Endpoint;
  advertiseWan?: Endpoint;
  advertiseService?: string;
  serviceId?: string;
  advertiseNodeAddress?: string;
  datacenter?: string;
  serverGrpc?: Endpoint[];
  healthTtl: number;
  engine: GatewayEngine;
}

export function gatewayCommand(): Command {
  const command = new Command('gateway')
    .description(
      'Run a mesh gateway: accepts TLS connections and routes them by SNI, without terminating them, to ' +
        'local services exported to the calling peer, to peer gateways (local mode) and, when ' +
        'Mesh.Peering.PeerThroughMeshGateways is on, to the peering servers. Stateless: run any number.',
    )
    .addOption(
      new Option('--listen <host:port>', 'address the gateway accepts connections on')
        .argParser(endpointOption(true))
        .default({ host: '127.0.0.1', port: 8443 }, '127.0.0.1:8443'),
    )
    .option('--service-name <name>', 'name the gateway registers under', 'mesh-gateway')
    .option('--register', 'register as a Kind "mesh-gateway" service on start, deregister on stop')
    .option(
      '--service-id <id>',
      'ID to register under; unique per replica (default: <service-name>-<advertised host>-<port>)',
    )
    .option(
      '--advertise <host:port>',
      "this cluster's address of the gateway (its LAN address, which local sidecars dial), when registering (default: --listen)",
      endpointOption(false),
    )
    .option(
      '--advertise-wan <host:port>',
      'the address peers dial, registered as the WAN tagged address (default: --advertise)',
      endpointOption(false),
    )
    .option(
      '--advertise-service <namespace/name>',
      "take the WAN address from this Kubernetes Service, read at start: its LoadBalancer's ingress, a node's address with its node port, or its cluster IP, with the Service's port (Helm meshGateway.wanAddress.source=Service)",
    )
    .option(
      '--advertise-node-address <host>',
      "the node's address, for --advertise-service with a NodePort Service (in a pod: status.hostIP)",
    )
    .option(
      '--datacenter <dc>',
      "this cluster's datacenter, as in server.<dc>.peering.<trust-domain> (default: the server's)",
    )
    .option(
      '--server-grpc <host:port,...>',
      "local servers' gRPC addresses, for peering streams through the gateway (default: --server's host, port 8502)",
      endpointsOption,
    )
    .addOption(
      new Option(
        '--engine <engine>',
        'what carries the bytes: node (in this process), haproxy (an HAProxy child process that meshpeer configures with the same routing decisions and updates live; needs haproxy 2.6+ on the PATH or in MESHPEER_HAPROXY) or nginx (an nginx child process given the same decisions, reloaded gracefully on every change; needs nginx 1.22+ with its stream module, on the PATH or in MESHPEER_NGINX)',
      )
        .choices(['node', 'haproxy', 'nginx'])
        .default('node'),
    );
  withHealthTtlOption(command);
  return withProcessOptions(command).action(async (flags: GatewayFlags) => {
    const settings = processSettings(flags, 'gateway');
    if (flags.advertiseService && flags.advertiseWan) {
      throw new CliError('give either --advertise-wan or --advertise-service, not both');
    }
    await serveUntilSignal('mesh gateway', settings.logger, async () => {
      const wan = flags.advertiseService
        ? await advertisedServiceAddress(flags, settings.logger, settings.configTimeoutMs)
        : flags.advertiseWan;
      const advertise = flags.advertise;
      if (flags.register) {
        const shown = wan ?? advertise;
        settings.logger.info(
          { advertise: shown ? formatEndpoint(shown) : '(the listen address)' },
          'mesh gateway advertises this address to peers',
        );
      }
      // Loaded on use: other commands (the server's start-up above all) should not pay for the data plane.
      const { runGateway } = await import('../dataplane/run-gateway.js');
      const gateway = await runGateway({
        ...settings,
        listen: flags.listen,
        serviceName: flags.serviceName,
        register: flags.register
          ? { advertise, wan, id: flags.serviceId, ...healthTtl(flags.healthTtl) }
          : undefined,
        datacenter: flags.datacenter,
        engine: flags.engine,
        localServers: flags.serverGrpc ?? [{ host: new URL(settings.server).hostname, port: 8502 }],
      });
      return { running: gateway, lines: [`mesh gateway listening on ${formatEndpoint(gateway.started)}`] };
    });
  });
}

/** --advertise-service: the Service's address, read through the Kubernetes API (in-cluster or kubeconfig). */
async function advertisedServiceAddress(
  flags: GatewayFlags,
  logger: Logger,
  timeoutMs: number,
): Promise<Endpoint> {
  const [namespace, name, ...rest] = (flags.advertiseService ?? '').split('/');
  if (!namespace || !name || rest.length > 0) {
    throw new CliError(`--advertise-service takes namespace/name, got "${flags.advertiseService}"`);
  }
  const { KubeConfig } = await import('@kubernetes/client-node');
  const { resolveServiceWanAddress } = await import('../kubernetes/gateway-wan-address.js');
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromDefault();
  const found = await resolveServiceWanAddress({
    kubeConfig,
    namespace,
    name,
    nodeAddress: flags.advertiseNodeAddress,
    timeoutMs,
    logger,
  });
  logger.info({ address: `${found.host}:${found.port}`, from: found.from }, 'mesh gateway WAN address');
  return { host: found.host, port: found.port };
}

// ---- shared with `meshpeer proxy` ----

export interface ProcessFlags {
  server?: string;
  token?: string;
  metrics?: Endpoint;
  drainSeconds: number;
  configTimeoutSeconds: number;
  logLevel?: string;
}

/** The flags every data-plane process takes: where the server is, metrics, shutdown and logging. */
export function withProcessOptions(command: Command): Command {
  return command
    .option(
      '--server <url>',
      `meshpeer server HTTP address (env MESHPEER_HTTP_ADDR; default ${DEFAULT_HTTP_ADDR}); an https ` +
        "server's CA is trusted from NODE_EXTRA_CA_CERTS (a file) or MESHPEER_HTTP_CACERT_PEM (the PEM itself)",
    )
    .option('--token <token>', 'ACL token for the server API (env MESHPEER_HTTP_TOKEN)')
    .option(
      '--metrics <host:port>',
      'serve Prometheus metrics at http://<host:port>/metrics',
      endpointOption(true),
    )
    .option('--drain-seconds <n>', 'on SIGINT/SIGTERM, how long live connections may finish', seconds, 10)
    .option(
      '--config-timeout-seconds <n>',
      'how long to wait for the first configuration from the server',
      seconds,
      120,
    )
    .option('--log-level <level>', 'trace, debug, info, warn or error (env MESHPEER_LOG_LEVEL)');
}

export function processSettings(flags: ProcessFlags, name: string) {
  return {
    server: normalizeHttpAddr(flags.server ?? process.env.MESHPEER_HTTP_ADDR ?? DEFAULT_HTTP_ADDR),
    token: flags.token ?? process.env.MESHPEER_HTTP_TOKEN,
    // The server's CA as PEM, for a process that cannot be given a file (an injected sidecar).
    caPem: process.env.MESHPEER_HTTP_CACERT_PEM?.trim() || undefined,
    metrics: flags.metrics,
    drainMs: flags.drainSeconds * 1000,
    configTimeoutMs: flags.configTimeoutSeconds * 1000,
    logger: createLogger({ name, level: flags.logLevel }),
  };
}

/** Starts a component, prints where it listens, and stops it gracefully on SIGINT/SIGTERM. */
export async function serveUntilSignal<T>(
  what: string,
  logger: Logger,
  start: () => Promise<{ running: RunningComponent<T>; lines: string[] }>,
): Promise<void> {
  // Listening for signals before starting: one sent the moment the "listening" lines appear (or while
  // starting) must stop the component, not kill the process with the default handler.
  const shutdown = untilShutdownSignal();
  const { running, lines } = await start().catch((err: unknown) => {
    throw isMeshpeerError(err) ? new CliError(`${what} did not start: ${err.message}`) : err;
  });
  for (const line of lines) process.stderr.write(`${line}\n`);
  const signal = await shutdown;
  logger.info({ signal }, 'shutting down');
  await running.stop();
}

/** A commander value parser from a domain parser: its `invalid` errors become usage errors (exit 2). */
export function flagValue<T>(parse: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (err) {
      if (isMeshpeerError(err)) throw new InvalidArgumentError(err.message);
      throw err;
    }
  };
}

/** --health-ttl (gateway and proxy): the registered instance's TTL check, in ms (0: none). */
export function withHealthTtlOption(command: Command): Command {
  return command.option(
    '--health-ttl <duration>',
    'with --register: the TTL of the "meshpeer process alive" check the process keeps passing (every third ' +
      'of it) while it runs; if the process dies, the server marks the instance critical once it passes. 0: no check',
    durationOption,
    30_000,
  );
}

/** The registration's healthTtlMs from --health-ttl (0 registers no check). */
export const healthTtl = (ms: number): { healthTtlMs?: number } => (ms > 0 ? { healthTtlMs: ms } : {});

const durationOption = flagValue((value: string) => {
  const ms = parseGoDuration(value);
  if (ms === undefined || ms < 0) {
    throw invalid(`expected a duration with a unit, like "30s" or "1m", got "${value}"`);
  }
  if (ms > 0 && ms < 1_000) throw invalid(`must be at least 1s (or 0 for no check), got "${value}"`);
  return ms;
});

/** host:port; port 0 (any free port) only where the flag is a listen address. */
export function endpointOption(listen: boolean): (value: string) => Endpoint {
  return flagValue((value) => parseEndpoint(value, { allowZero: listen }));
}

const endpointsOption = flagValue((value: string) => value.split(',').map((v) => parseEndpoint(v)));

const seconds = flagValue((value: string) => {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw invalid(`expected a number of seconds, got "${value}"`);
  return n;
});
