// Config entries in the store: one table, keyed kind/name; writes validate and support check-and-set.
import { notFound } from '../shared/errors.js';
import type { Store, StoredEntry, WriteTxn } from '../store/store.js';
import { type ConfigEntry, type ConfigEntryKind, type ConfigEntryOf, parseConfigEntry } from './registry.js';

export const CONFIG_ENTRIES = 'config-entries';

const key = (kind: string, name: string): string => `${kind}/${encodeURIComponent(name)}`;

export type StampedEntry = ConfigEntry & { CreateIndex: number; ModifyIndex: number };

const stamped = (e: StoredEntry<ConfigEntry>): StampedEntry => ({
  ...e.value,
  CreateIndex: e.createIndex,
  ModifyIndex: e.modifyIndex,
});

/**
 * A rule that needs more than the entry itself (e.g. the cluster's peerings); throws `invalid` naming
 * the field. Runs inside the write transaction, so it sees the state the entry is written against.
 */
export type EntryRule = (entry: ConfigEntry, tx: WriteTxn) => void;

export class ConfigEntries {
  readonly tables = [CONFIG_ENTRIES] as const;
  private readonly rules: EntryRule[] = [];

  constructor(private readonly store: Store) {}

  /** Adds a rule every write must pass (the server adds the ones that span domains). */
  addRule(rule: EntryRule): void {
    this.rules.push(rule);
  }

  /**
   * Validates and writes an entry. With `cas`, writes only if the entry's ModifyIndex equals it
   * (0: only if it does not exist) and returns false otherwise, as Consul does.
   */
  async set(input: unknown, cas?: number): Promise<{ written: boolean; entry: ConfigEntry }> {
    return this.write(parseConfigEntry(input), cas);
  }

  /** `set` for an entry already decoded with parseConfigEntry (the HTTP API decodes bodies once). */
  async write(entry: ConfigEntry, cas?: number): Promise<{ written: boolean; entry: ConfigEntry }> {
    const { result } = await this.store.write((tx) => {
      for (const rule of this.rules) rule(entry, tx);
      const k = key(entry.Kind, entry.Name);
      const existing = tx.get<ConfigEntry>(CONFIG_ENTRIES, k);
      if (cas !== undefined && (existing?.modifyIndex ?? 0) !== cas) return false;
      if (existing !== undefined && JSON.stringify(existing.value) === JSON.stringify(entry)) return true;
      tx.put(CONFIG_ENTRIES, k, entry);
      return true;
    });
    return { written: result, entry };
  }

  get<K extends ConfigEntryKind>(
    kind: K,
    name: string,
  ): (ConfigEntryOf<K> & { CreateIndex: number; ModifyIndex: number }) | undefined {
    const e = this.store.get<ConfigEntryOf<K>>(CONFIG_ENTRIES, key(kind, name));
    return e === undefined
      ? undefined
      : { ...e.value, CreateIndex: e.createIndex, ModifyIndex: e.modifyIndex };
  }

  require<K extends ConfigEntryKind>(
    kind: K,
    name: string,
  ): ConfigEntryOf<K> & { CreateIndex: number; ModifyIndex: number } {
    const e = this.get(kind, name);
    if (e === undefined)
      throw notFound(`Config entry not found for ${JSON.stringify(kind)} / ${JSON.stringify(name)}`);
    return e;
  }

  list(kind: ConfigEntryKind): StampedEntry[] {
    return this.store.list<ConfigEntry>(CONFIG_ENTRIES, `${kind}/`).map(stamped);
  }

  /** Deletes an entry; with `cas`, only if its ModifyIndex matches (returns false otherwise). */
  async delete(kind: ConfigEntryKind, name: string, cas?: number): Promise<boolean> {
    const { result } = await this.store.write((tx) => {
      const k = key(kind, name);
      const existing = tx.get(CONFIG_ENTRIES, k);
      if (cas !== undefined && (existing?.modifyIndex ?? 0) !== cas) return false;
      tx.delete(CONFIG_ENTRIES, k);
      return true;
    });
    return result;
  }
}
