// Leader election over a coordination.k8s.io/v1 Lease, as client-go does it: a candidate takes the
// lease once its holder has not renewed it for a whole lease duration (measured on our own clock from
// when we last saw the record change, so clocks need not agree); the leader renews every retry
// period and steps down if it cannot renew within the renew deadline; on shutdown it releases the
// lease so another replica takes over at once.
import {
  ApiException,
  CoordinationV1Api,
  type KubeConfig,
  type V1Lease,
  V1MicroTime,
} from '@kubernetes/client-node';
import type { Logger } from '../shared/logger.js';

export interface LeaderElectionOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  logger: Logger;
  /** Called when this replica becomes the leader; should start the work. */
  onStartedLeading: () => Promise<void>;
  /** Called when leadership ends (lost or released); should stop the work and resolve when stopped. */
  onStoppedLeading: () => Promise<void>;
}

interface ObservedRecord {
  holder: string;
  renewTime: string;
  transitions: number;
  observedAt: number;
}

export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private observed: ObservedRecord | undefined;
  private leading = false;
  private stopped = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;

  constructor(private readonly options: LeaderElectionOptions) {
    if (options.renewDeadlineMs >= options.leaseDurationMs) {
      throw new Error('the lease duration must be longer than the renew deadline');
    }
    if (options.retryPeriodMs >= options.renewDeadlineMs) {
      throw new Error('the renew deadline must be longer than the retry period');
    }
    this.api = options.kubeConfig.makeApiClient(CoordinationV1Api);
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Campaigns (and leads) until stop(). */
  run(): Promise<void> {
    this.loop ??= this.campaign();
    return this.loop;
  }

  /** Stops campaigning; a leader stops its work first and then releases the lease. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }

  private async campaign(): Promise<void> {
    const { logger, name, namespace, identity } = this.options;
    while (!this.stopped) {
      if (!(await this.tryAcquireOrRenew())) {
        await this.sleep(jitter(this.options.retryPeriodMs));
        continue;
      }
      this.leading = true;
      logger.info({ lease: `${namespace}/${name}`, identity }, 'became the leader');
      await this.options.onStartedLeading();
      await this.renewWhileLeading();
      this.leading = false;
      await this.options.onStoppedLeading();
      if (this.stopped) {
        await this.release();
      } else {
        logger.warn({ lease: `${namespace}/${name}`, identity }, 'lost the lease; stopped reconciling');
      }
    }
  }

  /** Renews every retry period; returns when stopped or when renewals failed for the renew deadline. */
  private async renewWhileLeading(): Promise<void> {
    let lastRenew = Date.now();
    while (!this.stopped) {
      await this.sleep(this.options.retryPeriodMs);
      if (this.stopped) return;
      if (await this.tryAcquireOrRenew()) {
        lastRenew = Date.now();
      } else if (Date.now() - lastRenew >= this.options.renewDeadlineMs) {
        return;
      }
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.options;
    const now = Date.now();
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ namespace, name });
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return this.create();
      this.logFailure('read', err);
      return false;
    }
    const spec = lease.spec ?? {};
    const record = {
      holder: spec.holderIdentity ?? '',
      renewTime: String(spec.renewTime ?? ''),
      transitions: spec.leaseTransitions ?? 0,
    };
    const seen = this.observed;
    if (
      !seen ||
      seen.holder !== record.holder ||
      seen.renewTime !== record.renewTime ||
      seen.transitions !== record.transitions
    ) {
      this.observed = { ...record, observedAt: now };
    }
    const observedAt = this.observed?.observedAt ?? now;
    const heldByOther = record.holder !== '' && record.holder !== identity;
    if (heldByOther && observedAt + this.options.leaseDurationMs > now) return false;

    const ours = record.holder === identity;
    const stamp = new V1MicroTime(now);
    lease.spec = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.max(1, Math.ceil(this.options.leaseDurationMs / 1000)),
      acquireTime: ours && spec.acquireTime ? spec.acquireTime : stamp,
      renewTime: stamp,
      leaseTransitions: ours ? record.transitions : record.transitions + 1,
    };
    try {
      const updated = await this.api.replaceNamespacedLease({ namespace, name, body: lease });
      this.remember(updated, now);
      return true;
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 409)) this.logFailure('update', err);
      return false;
    }
  }

  private async create(): Promise<boolean> {
    const { namespace, name, identity } = this.options;
    const now = Date.now();
    const stamp = new V1MicroTime(now);
    try {
      const created = await this.api.createNamespacedLease({
        namespace,
        body: {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace },
          spec: {
            holderIdentity: identity,
            leaseDurationSeconds: Math.max(1, Math.ceil(this.options.leaseDurationMs / 1000)),
            acquireTime: stamp,
            renewTime: stamp,
            leaseTransitions: 0,
          },
        },
      });
      this.remember(created, now);
      return true;
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 409)) this.logFailure('create', err);
      return false;
    }
  }

  /** Gives the lease up so a standby replica need not wait for it to expire. */
  private async release(): Promise<void> {
    const { namespace, name, identity, logger } = this.options;
    try {
      const lease = await this.api.readNamespacedLease({ namespace, name });
      if (lease.spec?.holderIdentity !== identity) return;
      const stamp = new V1MicroTime();
      lease.spec = {
        ...lease.spec,
        holderIdentity: '',
        leaseDurationSeconds: 1,
        acquireTime: stamp,
        renewTime: stamp,
      };
      await this.api.replaceNamespacedLease({ namespace, name, body: lease });
      logger.info({ lease: `${namespace}/${name}`, identity }, 'released the lease');
    } catch (err) {
      this.logFailure('release', err);
    }
  }

  private remember(lease: V1Lease, now: number): void {
    const spec = lease.spec ?? {};
    this.observed = {
      holder: spec.holderIdentity ?? '',
      renewTime: String(spec.renewTime ?? ''),
      transitions: spec.leaseTransitions ?? 0,
      observedAt: now,
    };
  }

  private logFailure(action: string, err: unknown): void {
    const message =
      err instanceof ApiException ? `HTTP ${err.code}` : err instanceof Error ? err.message : String(err);
    this.options.logger.warn(
      { lease: `${this.options.namespace}/${this.options.name}`, action, err: message },
      'leader election: lease request failed',
    );
  }

  /** Sleeps, or returns early when stop() is called. */
  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}

/** Up to 20 % more, so candidates started together do not retry in lockstep. */
function jitter(ms: number): number {
  return ms * (1 + Math.random() * 0.2);
}
