// On the leader of several servers sharing a store: publishes each stream's status when it changed (at
// most once per interval, one transaction), so every server shows the same State and StreamStatus for a
// peering whose stream only the leader runs. A server alone publishes nothing (it is the only reader).
import type { Logger } from '../shared/logger.js';
import type { Store } from '../store/store.js';
import { publishStreamSnapshots } from './state-machine.js';
import type { StreamSnapshot, StreamStatus } from './stream-status.js';

export class StatusPublisher {
  private readonly published = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Store,
    private readonly statuses: () => Map<string, StreamStatus>,
    private readonly logger: Logger,
    private readonly intervalMs = 1_000,
  ) {}

  start(): void {
    if (this.timer) return;
    this.published.clear();
    this.timer = setInterval(() => this.publish(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Writes the status of each stream that changed since the last publication. */
  publish(): void {
    const changed = new Map<string, StreamSnapshot>();
    for (const [name, status] of this.statuses()) {
      const snapshot = status.snapshot();
      const json = JSON.stringify(snapshot);
      if (this.published.get(name) === json) continue;
      changed.set(name, snapshot);
      this.published.set(name, json);
    }
    if (changed.size === 0) return;
    this.store
      .write((tx) => publishStreamSnapshots(tx, changed))
      .catch((err: unknown) => {
        for (const name of changed.keys()) this.published.delete(name);
        this.logger.warn({ err }, 'cannot publish the peering streams status');
      });
  }
}
