// The controller's runtime, loaded by `meshpeer controller` when it runs: Kubernetes config, the
// controller manager, leader election and graceful shutdown.
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import { parseGoDuration } from '../config-entries/index.js';
import { serveAdmissionWebhook } from '../kubernetes/admission.js';
import { ControllerManager } from '../kubernetes/controller.js';
import { HttpCatalogWriter } from '../kubernetes/endpoints/catalog-client.js';
import type { InjectSettings } from '../kubernetes/inject/decision.js';
import { ClientNodeKubeApi } from '../kubernetes/kube-api.js';
import { LeaderElector } from '../kubernetes/leader-election.js';
import { ControllerMetrics } from '../kubernetes/metrics.js';
import { ServerClient } from '../kubernetes/server-client.js';
import { parseHostPort } from '../shared/address.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { untilShutdownSignal } from '../shared/shutdown-signal.js';
import { type ControllerFlags, LEASE_NAME } from './controller-flags.js';
import { injectSettings } from './controller-inject.js';
import { UsageError } from './io.js';

const IN_CLUSTER_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
const SHUTDOWN_GRACE_MS = 15_000;

export async function runController(flags: ControllerFlags): Promise<void> {
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
  const inject = flags.inject ? injectSettings(flags, serverAddress) : undefined;
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
    ...(inject ? { catalog: new HttpCatalogWriter(serverAddress, token) } : {}),
  });
  // Signals are handled before anything is logged or served, so none can hit the default handler.
  const stopped = untilShutdownSignal().then((signal) => logger.info({ signal }, 'shutting down'));
  const metricsServer = flags.metricsAddr ? await metrics.serve(flags.metricsAddr) : undefined;
  if (metricsServer) logger.info({ address: metricsServer.address }, 'serving metrics');
  const webhook = await startWebhook(flags, kubeConfig, logger, inject);
  logger.info(
    {
      server: flags.server,
      namespace: flags.namespace ?? '(all)',
      leaderElect: Boolean(flags.leaderElect),
      identity,
    },
    'starting controller',
  );

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
  await webhook?.close();
  logger.info('controller stopped');
  logger.flush();
  // Reconciles stuck past the grace period hold sockets open; they must not keep the process alive.
  if (!clean) setTimeout(() => process.exit(1), 100).unref();
}

/** --webhook-addr: every replica serves admission, whether or not it holds the Lease. */
async function startWebhook(
  flags: ControllerFlags,
  kubeConfig: KubeConfig,
  logger: Logger,
  inject: InjectSettings | undefined,
) {
  if (!flags.webhookAddr) {
    if (inject) throw new UsageError('--inject needs --webhook-addr (the injector is a webhook)');
    if (flags.webhookTlsCert || flags.webhookTlsKey)
      throw new UsageError('--webhook-tls-cert/-key need --webhook-addr');
    return undefined;
  }
  if (!flags.webhookTlsCert || !flags.webhookTlsKey) {
    throw new UsageError(
      '--webhook-addr needs --webhook-tls-cert and --webhook-tls-key (the API server calls it over HTTPS)',
    );
  }
  let listen: { host: string; port: number };
  try {
    listen = parseHostPort(flags.webhookAddr, '--webhook-addr');
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const read = (path: string, flag: string): string => {
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      throw new UsageError(
        `cannot read ${flag} ${path}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  };
  const webhook = await serveAdmissionWebhook({
    kube: new ClientNodeKubeApi(kubeConfig),
    host: listen.host,
    port: listen.port,
    tls: {
      cert: read(flags.webhookTlsCert, '--webhook-tls-cert'),
      key: read(flags.webhookTlsKey, '--webhook-tls-key'),
    },
    logger,
    ...(inject ? { inject } : {}),
  });
  logger.info({ address: webhook.address }, 'serving the admission webhook');
  if (inject) logger.info({ path: '/mutate', image: inject.image }, 'serving the sidecar injector');
  return webhook;
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
