// The lifecycle a gateway or sidecar process shares: start the component, serve its metrics,
// register it with the server and keep its TTL check passing (every third of the TTL: a process that
// dies stops refreshing it, and the server turns it critical); and on stop, stop refreshing, deregister
// (so no new traffic is sent its way; the check goes with the service), then drain and close, then
// stop watching the server.
import type { Registry } from 'prom-client';
import type { Logger } from '../shared/logger.js';
import type { Endpoint } from './endpoint.js';
import { passAliveCheck } from './http/registration.js';
import { type ConsulApi, deregister, type Registration, register } from './http-config-source.js';
import { type MetricsServer, serveMetrics } from './process.js';

export interface Component<Started> {
  start(): Promise<Started>;
  stop(drainMs: number): Promise<void>;
  readonly metrics: { readonly registry: Registry };
}

export interface ComponentProcessOptions<Started> {
  api: ConsulApi;
  component: Component<Started>;
  /** The config source's stop. */
  stopWatching: () => void;
  /** What to register once started; undefined to not register. */
  registration?: (started: Started) => Registration | undefined;
  metrics?: Endpoint;
  drainMs: number;
  logger: Logger;
}

export interface RunningComponent<Started> {
  started: Started;
  serviceId?: string;
  metrics?: Endpoint;
  stop(): Promise<void>;
}

export async function runComponent<Started>(
  options: ComponentProcessOptions<Started>,
): Promise<RunningComponent<Started>> {
  const { api, component, logger } = options;
  let metrics: MetricsServer | undefined;
  let serviceId: string | undefined;
  let refresh: NodeJS.Timeout | undefined;
  const stop = async (): Promise<void> => {
    clearInterval(refresh);
    refresh = undefined;
    if (serviceId) {
      await deregister(api, serviceId).catch((err: Error) =>
        logger.warn({ err: err.message, id: serviceId }, 'could not deregister'),
      );
    }
    await component.stop(options.drainMs);
    options.stopWatching();
    await metrics?.close();
  };
  try {
    const started = await component.start();
    if (options.metrics) metrics = await serveMetrics(component.metrics.registry, options.metrics);
    const registration = options.registration?.(started);
    if (registration) {
      await register(api, registration);
      serviceId = registration.id;
      logger.info(
        { id: registration.id, kind: registration.kind, address: registration.address },
        'registered',
      );
      if (registration.healthTtlMs !== undefined) {
        const id = registration.id;
        let inFlight = false;
        const pass = async (): Promise<void> => {
          if (inFlight) return; // the previous refresh has not answered yet: it counts for this tick
          inFlight = true;
          try {
            await passAliveCheck(api, id);
          } catch (err) {
            logger.warn(
              { err: (err as Error).message, id },
              'could not refresh the TTL check; retrying at the next tick',
            );
          } finally {
            inFlight = false;
          }
        };
        await pass();
        refresh = setInterval(() => void pass(), Math.max(1, Math.floor(registration.healthTtlMs / 3)));
      }
    }
    return { started, serviceId, metrics: metrics?.address, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
