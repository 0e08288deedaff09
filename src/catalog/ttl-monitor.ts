// Expiry of TTL checks, as Consul's agent runs them: a check registered with a TTL must be updated
// (pass, warn, fail or update) within that TTL, or it turns critical with the output "TTL expired".
// The monitor keeps each armed check's deadline and one timer for the earliest of them (no polling):
// re-arming a check only moves its deadline, and a timer that fires early finds nothing due and is set
// again for the next deadline. What expiry writes is the caller's (the catalog's write path).
//
// Across a server restart: the catalog stores each check's TTL beside the check (src/catalog/keys.ts
// CHECK_TTLS, a table of its own, so the API's JSON is unchanged) and re-arms every TTL check at start
// with a full TTL from then, as Consul's agent does when it reloads its checks: a check whose process
// died while the server was down turns critical one TTL after the server is back.

export interface TtlClock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(timer: unknown): void;
}

/** setTimeout's longest delay; a later deadline is reached by firing early and setting the timer again. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export const systemClock: TtlClock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => {
    const t = setTimeout(fn, ms);
    // The timer never keeps a process alive on its own: the server's sockets do.
    t.unref();
    return t;
  },
  clearTimer: (t) => clearTimeout(t as NodeJS.Timeout),
};

interface Armed {
  node: string;
  checkID: string;
  deadline: number;
}

export class TtlMonitor {
  private readonly armed = new Map<string, Armed>();
  private timer: unknown;
  private timerAt = Number.POSITIVE_INFINITY;
  private stopped = false;

  constructor(
    private readonly expire: (node: string, checkID: string) => Promise<void>,
    private readonly clock: TtlClock = systemClock,
    private readonly onError: (err: unknown, node: string, checkID: string) => void = () => {},
  ) {}

  /** (Re)starts a check's TTL: it expires `ttlMs` from now unless armed again before. */
  arm(node: string, checkID: string, ttlMs: number): void {
    if (this.stopped) return;
    const deadline = this.clock.now() + ttlMs;
    this.armed.set(keyOf(node, checkID), { node, checkID, deadline });
    if (deadline < this.timerAt) this.setTimer(deadline);
  }

  /** Forgets a check (deregistered, or registered again without a TTL). */
  disarm(node: string, checkID: string): void {
    this.armed.delete(keyOf(node, checkID));
  }

  /** The armed checks of a node, by CheckID. */
  armedOn(node: string): string[] {
    return [...this.armed.values()].filter((a) => a.node === node).map((a) => a.checkID);
  }

  /** Every armed check. */
  armedChecks(): { node: string; checkID: string }[] {
    return [...this.armed.values()].map(({ node, checkID }) => ({ node, checkID }));
  }

  /** The deadline of an armed check (ms since the epoch), or undefined. */
  deadlineOf(node: string, checkID: string): number | undefined {
    return this.armed.get(keyOf(node, checkID))?.deadline;
  }

  /** Stops the timer and forgets every check. */
  stop(): void {
    this.stopped = true;
    this.armed.clear();
    this.clearTimer();
  }

  private setTimer(deadline: number): void {
    this.clearTimer();
    this.timerAt = deadline;
    const delay = Math.min(Math.max(0, deadline - this.clock.now()), MAX_TIMER_MS);
    this.timer = this.clock.setTimer(() => this.fire(), delay);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    if (this.stopped) return;
    const now = this.clock.now();
    let next = Number.POSITIVE_INFINITY;
    for (const [key, a] of this.armed) {
      if (a.deadline <= now) {
        // Expired once: the check stays critical until it is updated (which arms it again).
        this.armed.delete(key);
        this.expire(a.node, a.checkID).catch((err: unknown) => this.onError(err, a.node, a.checkID));
      } else if (a.deadline < next) next = a.deadline;
    }
    if (next !== Number.POSITIVE_INFINITY) this.setTimer(next);
  }
}

const keyOf = (node: string, checkID: string): string => `${node}\u0000${checkID}`;
