// `meshpeer controller`: the Kubernetes operator. Watches the peering and config-entry CRDs (and
// Secrets) and reconciles them against one meshpeer server; with --leader-elect, only the replica
// holding the Lease reconciles. Runs until SIGTERM/SIGINT, then stops cleanly and releases the Lease.
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import { Command, Option } from 'commander';
import { parseGoDuration } from '../config-entries/index.js';
import { ControllerManager } from '../kubernetes/controller.js';
import { LeaderElector } from '../kubernetes/leader-election.js';
import { ControllerMetrics } from '../kubernetes/metrics.js';
import { ServerClient } from '../kubernetes/server-client.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { UsageError } from './io.js';

export const LEASE_NAME = 'meshpeer-controller-lock';
const IN_CLUSTER_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
const SHUTDOWN_GRACE_MS = 15_000;

interface ControllerFlags {
  kubeconfig?: string;
  context?: string;
  server: string;
  token?: string;
  tokenFile?: string;
  namespace?: string;
  datacenter?: string;
  leaderElect?: boolean;
  leaderElectNamespace?: string;
  leaderElectLeaseDuration: string;
  leaderElectRenewDeadline: string;
  leaderElectRetryPeriod: string;
  statusInterval: string;
  resyncPeriod: string;
  workers: string;
  metricsAddr?: string;
  logLevel?: string;
}

export function controllerCommand(): Command {
  return new Command('controller')
    .description(
      'Run the Kubernetes controller: reconcile PeeringAcceptor, PeeringDialer, Mesh, ExportedServices, ' +
        'ProxyDefaults, ServiceIntentions and ServiceResolver resources against a meshpeer server',
    )
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)')
    .option('--context <name>', 'kubeconfig context to use (default: the current context)')
    .addOption(
      new Option('--server <url>', 'HTTP address of the meshpeer server')
        .env('MESHPEER_HTTP_ADDR')
        .default('http://127.0.0.1:8500'),
    )
    .addOption(new Option('--token <token>', 'ACL token for the server').env('MESHPEER_HTTP_TOKEN'))
    .addOption(
      new Option('--token-file <path>', 'file holding the ACL token (a mounted Secret)').env(
        'MESHPEER_HTTP_TOKEN_FILE',
      ),
    )
    .option('--namespace <name>', 'watch only this namespace (default: all namespaces)')
    .option('--datacenter <name>', 'recorded in config entries as consul.hashicorp.com/source-datacenter')
    .option('--leader-elect', 'run as one of several replicas; only the holder of the Lease reconciles')
    .option('--leader-elect-namespace <name>', "namespace of the Lease (default: --namespace, or the pod's)")
    .option('--leader-elect-lease-duration <duration>', 'how long a Lease lasts without renewal', '15s')
    .option(
      '--leader-elect-renew-deadline <duration>',
      'how long the leader retries renewing before stepping down',
      '10s',
    )
    .option(
      '--leader-elect-retry-period <duration>',
      'time between attempts to take or renew the Lease',
      '2s',
    )
    .option(
      '--status-interval <duration>',
      'how often peering resources re-read the peering (changes on the server are also watched)',
      '30s',
    )
    .option('--resync-period <duration>', 'how often every resource is reconciled without a change', '1m')
    .option('--workers <n>', 'concurrent reconciles per kind', '1')
    .option('--metrics-addr <host:port>', 'serve Prometheus metrics on http://host:port/metrics')
    .option('--log-level <level>', 'trace, debug, info, warn or error (default: $MESHPEER_LOG_LEVEL or info)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ meshpeer controller --server http://consul-server:8500 --leader-elect\n' +
        '  $ meshpeer controller --kubeconfig ~/.kube/config --namespace default --metrics-addr 127.0.0.1:9102',
    )
    .action(async (flags: ControllerFlags) => {
      await runController(flags);
    });
}

async function runController(flags: ControllerFlags): Promise<void> {
  const durations = {
    lease: duration(flags.leaderElectLeaseDuration, '--leader-elect-lease-duration'),
    renew: duration(flags.leaderElectRenewDeadline, '--leader-elect-renew-deadline'),
    retry: duration(flags.leaderElectRetryPeriod, '--leader-elect-retry-period'),
    status: duration(flags.statusInterval, '--status-interval'),
    resync: duration(flags.resyncPeriod, '--resync-period'),
  };
  const workers = Number(flags.workers);
  if (!Number.isInteger(workers) || workers < 1) throw new UsageError('--workers must be a positive integer');
  const logger = createLogger({ name: 'controller', ...(flags.logLevel ? { level: flags.logLevel } : {}) });
  const kubeConfig = loadKubeConfig(flags);
  const token = flags.token ?? (flags.tokenFile ? readToken(flags.tokenFile) : undefined);
  const serverAddress = /^https?:\/\//.test(flags.server) ? flags.server : `http://${flags.server}`;
  const identity = `${os.hostname()}_${process.pid}`;
  const metrics = new ControllerMetrics();
  const manager = new ControllerManager({
    kubeConfig,
    server: new ServerClient({ address: serverAddress, ...(token ? { token } : {}) }),
    logger,
    statusIntervalMs: durations.status,
    resyncIntervalMs: durations.resync,
    workersPerKind: workers,
    metrics,
    identity,
    ...(flags.namespace ? { namespace: flags.namespace } : {}),
    ...(flags.datacenter ? { datacenter: flags.datacenter } : {}),
  });
  const metricsServer = flags.metricsAddr ? await metrics.serve(flags.metricsAddr) : undefined;
  if (metricsServer) logger.info({ address: metricsServer.address }, 'serving metrics');
  logger.info(
    {
      server: flags.server,
      namespace: flags.namespace ?? '(all)',
      leaderElect: Boolean(flags.leaderElect),
      identity,
    },
    'starting controller',
  );

  const stopped = untilSignal(logger);
  let clean: boolean;
  if (flags.leaderElect) {
    const elector = new LeaderElector({
      kubeConfig,
      namespace: leaseNamespace(flags, kubeConfig),
      name: LEASE_NAME,
      identity,
      leaseDurationMs: durations.lease,
      renewDeadlineMs: durations.renew,
      retryPeriodMs: durations.retry,
      logger,
      onStartedLeading: async () => {
        metrics.leading(true);
        void manager
          .start()
          .catch((err: unknown) => logger.error({ err: String(err) }, 'controller failed to start'));
      },
      onStoppedLeading: async () => {
        metrics.leading(false);
        await manager.stop();
      },
    });
    const campaign = elector.run();
    await Promise.race([stopped, campaign]);
    clean = await withDeadline(elector.stop(), logger);
  } else {
    metrics.leading(true);
    void manager
      .start()
      .catch((err: unknown) => logger.error({ err: String(err) }, 'controller failed to start'));
    await stopped;
    clean = await withDeadline(manager.stop(), logger);
  }
  await metricsServer?.close();
  logger.info('controller stopped');
  logger.flush();
  // Reconciles stuck past the grace period hold sockets open; they must not keep the process alive.
  if (!clean) setTimeout(() => process.exit(1), 100).unref();
}

function readToken(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new UsageError(
      `cannot read --token-file ${path}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

function duration(text: string, flag: string): number {
  const ms = parseGoDuration(text);
  if (ms === undefined || ms <= 0)
    throw new UsageError(
      `${flag} must be a positive duration such as 10s or 500ms, got ${JSON.stringify(text)}`,
    );
  return ms;
}

function loadKubeConfig(flags: ControllerFlags): KubeConfig {
  const kubeConfig = new KubeConfig();
  try {
    if (flags.kubeconfig) kubeConfig.loadFromFile(flags.kubeconfig);
    else kubeConfig.loadFromDefault();
  } catch (err) {
    throw new UsageError(`cannot load the kubeconfig: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (flags.context) kubeConfig.setCurrentContext(flags.context);
  if (!kubeConfig.getCurrentCluster()) {
    throw new UsageError(
      'no Kubernetes cluster configured: pass --kubeconfig, set KUBECONFIG, or run in a pod',
    );
  }
  return kubeConfig;
}

function leaseNamespace(flags: ControllerFlags, kubeConfig: KubeConfig): string {
  if (flags.leaderElectNamespace) return flags.leaderElectNamespace;
  if (flags.namespace) return flags.namespace;
  if (existsSync(IN_CLUSTER_NAMESPACE_FILE)) return readFileSync(IN_CLUSTER_NAMESPACE_FILE, 'utf8').trim();
  return kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace ?? 'default';
}

/** Resolves on the first SIGTERM or SIGINT; a second one exits at once. */
function untilSignal(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      logger.info({ signal }, 'shutting down');
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      process.once('SIGTERM', () => process.exit(143));
      process.once('SIGINT', () => process.exit(130));
      resolve();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

/** True when `stopping` finished within the grace period. */
async function withDeadline(stopping: Promise<void>, logger: Logger): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => {
      logger.warn({ afterMs: SHUTDOWN_GRACE_MS }, 'reconciles still running at shutdown; leaving them');
      resolve(false);
    }, SHUTDOWN_GRACE_MS);
  });
  const clean = await Promise.race([stopping.then(() => true), deadline]);
  clearTimeout(timer);
  return clean;
}
