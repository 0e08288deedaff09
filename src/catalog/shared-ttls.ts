// TTL checks on a store several servers share (etcd): a check may be registered through one server and
// renewed through another, and any of them may stop. So every renewal is stored (CHECK_TTL_RENEWALS,
// when it happened) and every server arms every local TTL check from its last renewal anywhere; a timer
// that fires re-reads the renewal first. Expiry writes are idempotent, so several servers expiring the
// same overdue check write it once. Clock skew between servers shifts a deadline by that skew.

import type { Store, WriteTxn } from '../store/store.js';
import { CHECK_TTL_RENEWALS, CHECK_TTLS, CHECKS, checkKey, peerPrefix } from './keys.js';
import type { TtlMonitor } from './ttl-monitor.js';
import type { HealthCheck } from './types.js';

/** Renewals arriving together are applied in one pass after this pause. */
const SETTLE_MS = 200;

export class SharedTtls {
  private readonly unsubscribe: () => void;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly monitor: TtlMonitor,
    private readonly now: () => number = Date.now,
  ) {
    this.unsubscribe = store.subscribe([CHECK_TTLS, CHECK_TTL_RENEWALS], () => this.soon());
  }

  /** Records, in the writing transaction, that the check was registered or updated now. */
  renewed(tx: WriteTxn, key: string): void {
    tx.put(CHECK_TTL_RENEWALS, key, this.now());
  }

  /**
   * For an expiring check: true (and armed again for the rest) when it was renewed, through any
   * server, less than its TTL ago.
   */
  rearmIfRenewed(node: string, checkID: string): boolean {
    const key = checkKey('', node, checkID);
    const ttl = this.store.get<number>(CHECK_TTLS, key)?.value;
    const at = this.store.get<number>(CHECK_TTL_RENEWALS, key)?.value;
    if (ttl === undefined || at === undefined) return false;
    const left = at + ttl - this.now();
    if (left <= 0) return false;
    this.monitor.arm(node, checkID, left);
    return true;
  }

  /** Arms every local TTL check from its last renewal, and forgets checks whose TTL is gone. */
  sync(): void {
    const now = this.now();
    const present = new Set<string>();
    this.store.forEach<number>(CHECK_TTLS, peerPrefix(''), (e) => {
      const check = this.store.get<HealthCheck>(CHECKS, e.key)?.value;
      if (check === undefined) return;
      present.add(e.key);
      const at = this.store.get<number>(CHECK_TTL_RENEWALS, e.key)?.value ?? now;
      const deadline = at + e.value;
      if (this.monitor.deadlineOf(check.Node, check.CheckID) !== deadline)
        this.monitor.arm(check.Node, check.CheckID, Math.max(0, deadline - now));
    });
    for (const { node, checkID } of this.monitor.armedChecks()) {
      if (!present.has(checkKey('', node, checkID))) this.monitor.disarm(node, checkID);
    }
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe();
    if (this.timer) clearTimeout(this.timer);
  }

  private soon(): void {
    if (this.stopped || this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.stopped) this.sync();
    }, SETTLE_MS);
    this.timer.unref();
  }
}
