// How the data plane receives configuration: a source pushes complete snapshots, newest wins.
// Components never poll; tests drive them with StaticConfigSource.
import { unavailable } from '../shared/errors.js';

export type Unsubscribe = () => void;

export interface ConfigSource<T> {
  /**
   * Calls `onSnapshot` with each new complete snapshot — right away with the current one when there
   * is one. Returns the function that ends the subscription.
   */
  subscribe(onSnapshot: (snapshot: T) => void): Unsubscribe;
}

/** A source whose snapshots are set by its owner: a test, or a composite source built on watches. */
export class StaticConfigSource<T> implements ConfigSource<T> {
  private current: T | undefined;
  private readonly listeners = new Set<(snapshot: T) => void>();

  constructor(initial?: T) {
    this.current = initial;
  }

  get snapshot(): T | undefined {
    return this.current;
  }

  set(snapshot: T): void {
    this.current = snapshot;
    for (const listener of [...this.listeners]) listener(snapshot);
  }

  /** Applies `change` to the current snapshot and publishes the result. */
  update(change: (current: T) => T): void {
    if (this.current === undefined) throw unavailable('no snapshot to update yet');
    this.set(change(this.current));
  }

  subscribe(onSnapshot: (snapshot: T) => void): Unsubscribe {
    this.listeners.add(onSnapshot);
    if (this.current !== undefined) onSnapshot(this.current);
    return () => this.listeners.delete(onSnapshot);
  }
}

/**
 * Subscribes and resolves with the first snapshot; later ones go to `onSnapshot`. A component starts
 * serving only once it has a complete configuration, so it never refuses for want of one.
 */
export function subscribeFromFirst<T>(
  source: ConfigSource<T>,
  onSnapshot: (snapshot: T) => void,
  options: { timeoutMs: number; what: string },
): Promise<{ first: T; unsubscribe: Unsubscribe }> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      unsubscribe();
      reject(unavailable(`no ${options.what} configuration arrived within ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    const unsubscribe = source.subscribe((snapshot) => {
      onSnapshot(snapshot);
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // Deferred: the subscription's own first call can come before `unsubscribe` is assigned.
      queueMicrotask(() => resolve({ first: snapshot, unsubscribe }));
    });
  });
}
