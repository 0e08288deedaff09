// A set of blocking queries kept running against the server, each re-issued with the last
// X-Consul-Index so it returns only when something changed. The owner says which watches it wants
// (the set follows, starting and stopping queries) and is called back when any answer changes.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../shared/logger.js';
import type { ConsulApi } from './consul-api.js';
import type { Watch } from './watch.js';

export interface WatchSetOptions {
  waitSeconds?: number;
  /** Floor between two queries of one path that changed nothing, for servers that answer at once. */
  minIntervalMs?: number;
  maxBackoffMs?: number;
}

interface Running {
  watch: Watch<unknown>;
  controller: AbortController;
  stopped: boolean;
  index: number;
  /** The last answer as received, to tell a real change from a timeout. */
  raw: string | undefined;
  value: unknown;
  ready: boolean;
}

export class WatchSet {
  private readonly running = new Map<string, Running>();
  private readonly waitSeconds: number;
  private readonly minIntervalMs: number;
  private readonly maxBackoffMs: number;

  constructor(
    private readonly api: ConsulApi,
    private readonly onChange: () => void,
    private readonly logger: Logger,
    options: WatchSetOptions = {},
  ) {
    this.waitSeconds = options.waitSeconds ?? 30;
    this.minIntervalMs = options.minIntervalMs ?? 1_000;
    this.maxBackoffMs = options.maxBackoffMs ?? 30_000;
  }

  /** Makes the running set exactly `watches`: new paths start, paths no longer wanted stop. */
  keep(watches: readonly Watch<unknown>[]): void {
    const wanted = new Map(watches.map((w) => [w.path, w]));
    for (const [path, running] of this.running) {
      if (!wanted.has(path)) this.stopOne(path, running);
    }
    for (const [path, watch] of wanted) {
      if (this.running.has(path)) continue;
      const running: Running = {
        watch,
        controller: new AbortController(),
        stopped: false,
        index: 0,
        raw: undefined,
        value: undefined,
        ready: false,
      };
      this.running.set(path, running);
      void this.loop(running);
    }
  }

  ready(watches: readonly Watch<unknown>[]): boolean {
    return watches.every((w) => this.running.get(w.path)?.ready === true);
  }

  /** The latest value of a watch; throws if it has none yet (check ready() first). */
  value<T>(watch: Watch<T>): T {
    const running = this.running.get(watch.path);
    if (!running?.ready) throw new Error(`watch ${watch.path} has no value yet`);
    // The stored value was produced by this same watch's read(), keyed by its path.
    return running.value as T;
  }

  /** Re-asks now, without waiting for the server to report a change (e.g. a leaf due for renewal). */
  refresh(watch: Watch<unknown>): void {
    const running = this.running.get(watch.path);
    if (!running) return;
    running.index = 0;
    running.controller.abort();
  }

  stop(): void {
    for (const [path, running] of this.running) this.stopOne(path, running);
  }

  private stopOne(path: string, running: Running): void {
    running.stopped = true;
    running.controller.abort();
    this.running.delete(path);
  }

  private async loop(running: Running): Promise<void> {
    let backoffMs = 500;
    while (!running.stopped) {
      const started = Date.now();
      const asked = running.index;
      try {
        const response = await this.api.get(running.watch.path, {
          index: asked,
          waitSeconds: this.waitSeconds,
          signal: running.controller.signal,
          answerStatuses: running.watch.answerStatuses,
        });
        const raw = JSON.stringify([response.status, response.body]);
        const changed = !running.ready || raw !== running.raw;
        if (changed) running.value = running.watch.read(response);
        // An index that goes backwards (a restored server) restarts from a full read.
        running.index = response.index < asked ? 0 : response.index;
        backoffMs = 500;
        if (changed && !running.stopped) {
          running.raw = raw;
          running.ready = true;
          this.onChange();
        } else if (response.index <= asked) {
          // Same index, same answer: the server did not block (or the wait ran out), so do not spin.
          const floor = running.watch.pollMs ?? this.minIntervalMs;
          await this.pause(running, floor - (Date.now() - started));
        }
      } catch (err) {
        if (running.stopped) return;
        if (running.controller.signal.aborted) {
          // A refresh: go again at once, with a fresh controller.
          running.controller = new AbortController();
          continue;
        }
        this.logger.warn(
          { path: running.watch.path, err: (err as Error).message, retryInMs: backoffMs },
          'watch failed',
        );
        await this.pause(running, backoffMs);
        backoffMs = Math.min(backoffMs * 2, this.maxBackoffMs);
      }
    }
  }

  private async pause(running: Running, ms: number): Promise<void> {
    if (ms <= 0) return;
    try {
      await sleep(ms, undefined, { signal: running.controller.signal });
    } catch {
      if (!running.stopped) running.controller = new AbortController();
    }
  }
}
