// Which local services recent writes touched, and at which index: what incremental export to peers
// recomputes. It keeps at most one entry per service name once compacted, so its size follows the
// number of services, not the number of writes; a reader whose index is older than what the log still
// covers is told to recompute everything.

/** Local service names touched by writes after some index. */
export interface LocalChanges {
  names: Set<string>;
  /** A mesh gateway was among them (exports point at the gateway's address). */
  gateway: boolean;
}

interface Change {
  index: number;
  name: string;
  gateway: boolean;
}

/** Entries kept before compaction is considered, and the most kept after it. */
const MIN_COMPACT = 10_000;
const MAX_ENTRIES = 100_000;

export class LocalChangeLog {
  /** In index order (writes commit in index order). */
  private log: Change[] = [];
  /** Changes at or below this index may have been dropped. */
  private floor = 0;
  private compactAt = MIN_COMPACT;

  record(index: number, name: string, gateway: boolean): void {
    this.log.push({ index, name, gateway });
    if (this.log.length >= this.compactAt) this.compact();
  }

  /** What changed after `index`, or undefined when the log no longer reaches back that far. */
  since(index: number): LocalChanges | undefined {
    if (index < this.floor) return undefined;
    const out: LocalChanges = { names: new Set(), gateway: false };
    for (let i = this.log.length - 1; i >= 0; i--) {
      const c = this.log[i] as Change;
      if (c.index <= index) break;
      out.names.add(c.name);
      if (c.gateway) out.gateway = true;
    }
    return out;
  }

  get size(): number {
    return this.log.length;
  }

  /**
   * Keeps the latest entry per name (nothing a reader needs is lost: it asks "which names after i", and
   * the latest entry of a name answers that for every i). If distinct names alone exceed half the cap,
   * the oldest go and the floor rises; the log never holds more than MAX_ENTRIES.
   */
  private compact(): void {
    const latest = new Map<string, Change>();
    for (const c of this.log) {
      const prev = latest.get(c.name);
      latest.set(c.name, prev?.gateway && !c.gateway ? { ...c, gateway: true } : c);
    }
    let kept = [...latest.values()].sort((a, b) => a.index - b.index);
    if (kept.length > MAX_ENTRIES / 2) {
      const dropped = kept.slice(0, kept.length - MAX_ENTRIES / 2);
      this.floor = Math.max(this.floor, dropped[dropped.length - 1]?.index ?? this.floor);
      kept = kept.slice(kept.length - MAX_ENTRIES / 2);
    }
    this.log = kept;
    this.compactAt = Math.min(MAX_ENTRIES, Math.max(MIN_COMPACT, kept.length * 2));
  }
}
