// Where the etcd store keeps things under its prefix: one etcd key per store entry, and one "table index"
// key per table that every transaction touching the table rewrites, so its mod_revision is the table's
// index and comparing it detects any change to the table (deletes included) since a read.
//
//   <prefix>kv/<table, URI-encoded>/<key>   value: the entry's JSON
//   <prefix>index/<table, URI-encoded>       value: empty

export type ParsedKey =
  | { kind: 'entry'; table: string; key: string }
  | { kind: 'index'; table: string }
  | { kind: 'other' };

export class EtcdLayout {
  constructor(readonly prefix: string) {
    if (prefix === '' || !prefix.endsWith('/')) {
      throw new Error(`etcd key prefix ${JSON.stringify(prefix)} must be non-empty and end with /`);
    }
  }

  entryKey(table: string, key: string): string {
    return `${this.prefix}kv/${encodeURIComponent(table)}/${key}`;
  }

  indexKey(table: string): string {
    return `${this.prefix}index/${encodeURIComponent(table)}`;
  }

  parse(full: string): ParsedKey {
    if (!full.startsWith(this.prefix)) return { kind: 'other' };
    const rest = full.slice(this.prefix.length);
    if (rest.startsWith('kv/')) {
      const slash = rest.indexOf('/', 3);
      if (slash < 0) return { kind: 'other' };
      return { kind: 'entry', table: decodeURIComponent(rest.slice(3, slash)), key: rest.slice(slash + 1) };
    }
    if (rest.startsWith('index/')) return { kind: 'index', table: decodeURIComponent(rest.slice(6)) };
    return { kind: 'other' };
  }
}

/** The etcd range end that covers every key starting with `prefix` (bytes). */
export function prefixRangeEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // all keys
}
