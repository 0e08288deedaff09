// Blocking-query waiters and change subscribers of a store: wakes them when a table's index passes what a
// waiter saw. The store says which tables changed; the notifier reads indexes back through `view`.
import type { ChangeListener } from './store.js';

interface Waiter {
  tables: readonly string[];
  afterIndex: number;
  settle: () => void;
}

export interface IndexView {
  tableIndex(table: string): number;
  maxIndex(tables: readonly string[]): number;
  lastIndex(): number;
}

export class ChangeNotifier {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly listeners = new Map<string, Set<ChangeListener>>();
  private waiting = 0;
  private closed = false;

  constructor(private readonly view: IndexView) {}

  waitForChange(
    tables: readonly string[],
    afterIndex: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<number> {
    const current = this.view.maxIndex(tables);
    if (current > afterIndex || this.closed || signal?.aborted) return Promise.resolve(current);
    return new Promise<number>((resolve) => {
      let done = false;
      const waiter: Waiter = { tables, afterIndex, settle: () => finish() };
      const timer = setTimeout(() => finish(), Math.max(0, timeoutMs));
      const onAbort = (): void => finish();
      const finish = (): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        for (const t of tables) this.waiters.get(t)?.delete(waiter);
        this.waiting--;
        resolve(this.view.maxIndex(tables));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting++;
      for (const t of tables) {
        let set = this.waiters.get(t);
        if (set === undefined) {
          set = new Set();
          this.waiters.set(t, set);
        }
        set.add(waiter);
      }
    });
  }

  subscribe(tables: readonly string[], listener: ChangeListener): () => void {
    for (const t of tables) {
      let set = this.listeners.get(t);
      if (set === undefined) {
        set = new Set();
        this.listeners.set(t, set);
      }
      set.add(listener);
    }
    return () => {
      for (const t of tables) this.listeners.get(t)?.delete(listener);
    };
  }

  waitingCount(): number {
    return this.waiting;
  }

  /** Wakes the waiters whose tables passed their index and calls the subscribers of `touched`. */
  notify(touched: ReadonlySet<string>): void {
    const toSettle = new Set<Waiter>();
    const toCall = new Set<ChangeListener>();
    for (const t of touched) {
      const index = this.view.tableIndex(t);
      for (const w of this.waiters.get(t) ?? []) if (index > w.afterIndex) toSettle.add(w);
      for (const l of this.listeners.get(t) ?? []) toCall.add(l);
    }
    for (const w of toSettle) w.settle();
    const last = this.view.lastIndex();
    for (const l of toCall) {
      try {
        l(last, touched);
      } catch {
        // A listener's failure is its own; it must not stop other listeners or the writer.
      }
    }
  }

  /** Releases every waiter (with the current index) and drops the subscribers. */
  close(): void {
    this.closed = true;
    for (const set of this.waiters.values()) for (const w of [...set]) w.settle();
    this.listeners.clear();
  }
}
