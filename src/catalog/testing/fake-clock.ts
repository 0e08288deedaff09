// A hand-driven clock for the TTL checks' unit tests: timers run only when the test advances time.
import type { TtlClock } from '../ttl-monitor.js';

export function fakeClock() {
  let now = 1_000;
  const timers = new Map<number, { at: number; fn: () => void }>();
  let next = 1;
  const clock: TtlClock = {
    now: () => now,
    setTimer: (fn, ms) => {
      const id = next++;
      timers.set(id, { at: now + ms, fn });
      return id;
    },
    clearTimer: (id) => {
      timers.delete(id as number);
    },
  };
  return {
    clock,
    pending: () => timers.size,
    advance(ms: number) {
      const end = now + ms;
      for (;;) {
        const due = [...timers].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
        if (due === undefined) break;
        timers.delete(due[0]);
        now = due[1].at;
        due[1].fn();
      }
      now = end;
    },
  };
}
