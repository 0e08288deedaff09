// SQLite persistence: one file under the data dir, WAL journal with synchronous=FULL so a commit that
// returned survives kill -9 and power loss; each batch of transactions is one SQLite transaction.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { MeshpeerError } from '../shared/errors.js';
import type { CommitBatch, LoadedState, Persistence } from './persistence.js';
import type { StoredEntry } from './store.js';

const SCHEMA_VERSION = '1';

interface KvRow {
  tbl: string;
  key: string;
  value: string;
  create_index: number;
  modify_index: number;
}

export class SqlitePersistence implements Persistence {
  private readonly db: Database.Database;
  private readonly upsert: Database.Statement;
  private readonly remove: Database.Statement;
  private readonly setTableIndex: Database.Statement;
  private readonly setMeta: Database.Statement;
  private readonly commitTxn: (batch: CommitBatch) => void;

  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    try {
      this.db = new Database(path);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.pragma('busy_timeout = 5000');
      this.migrate();
    } catch (err) {
      throw new MeshpeerError(
        'unavailable',
        `cannot open the state database ${path}: ${(err as Error).message}. ` +
          'Check that the data dir is writable and not used by another meshpeer server.',
      );
    }
    this.upsert = this.db.prepare(
      'INSERT INTO kv (tbl, key, value, create_index, modify_index) VALUES (?, ?, ?, ?, ?) ' +
        'ON CONFLICT (tbl, key) DO UPDATE SET value = excluded.value, modify_index = excluded.modify_index',
    );
    this.remove = this.db.prepare('DELETE FROM kv WHERE tbl = ? AND key = ?');
    this.setTableIndex = this.db.prepare(
      'INSERT INTO table_index (tbl, idx) VALUES (?, ?) ON CONFLICT (tbl) DO UPDATE SET idx = excluded.idx',
    );
    this.setMeta = this.db.prepare(
      'INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v',
    );
    this.commitTxn = this.db.transaction((batch: CommitBatch) => {
      for (const change of batch.changes) {
        if (change.entry === undefined) {
          this.remove.run(change.table, change.key);
        } else {
          const e = change.entry;
          this.upsert.run(change.table, change.key, JSON.stringify(e.value), e.createIndex, e.modifyIndex);
        }
      }
      for (const [table, idx] of batch.tableIndexes) this.setTableIndex.run(table, idx);
      this.setMeta.run('last_index', String(batch.lastIndex));
    });
  }

  private migrate(): void {
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS kv (
        tbl TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
        create_index INTEGER NOT NULL, modify_index INTEGER NOT NULL,
        PRIMARY KEY (tbl, key)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS table_index (tbl TEXT PRIMARY KEY, idx INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
    `);
    const row = this.db.prepare("SELECT v FROM meta WHERE k = 'schema_version'").get() as
      | { v: string }
      | undefined;
    if (row === undefined) {
      this.db.prepare("INSERT INTO meta (k, v) VALUES ('schema_version', ?)").run(SCHEMA_VERSION);
    } else if (row.v !== SCHEMA_VERSION) {
      throw new Error(
        `schema version ${row.v} is not supported by this meshpeer (expects ${SCHEMA_VERSION})`,
      );
    }
    const check = this.db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new Error(`integrity check failed: ${String(check)}`);
  }

  load(): LoadedState {
    const rows = this.db
      .prepare('SELECT tbl, key, value, create_index, modify_index FROM kv')
      .iterate() as IterableIterator<KvRow>;
    const entries = (function* () {
      for (const r of rows) {
        const entry: StoredEntry = {
          key: r.key,
          value: JSON.parse(r.value) as unknown,
          createIndex: r.create_index,
          modifyIndex: r.modify_index,
        };
        yield { table: r.tbl, entry };
      }
    })();
    const tableIndexes = new Map<string, number>();
    for (const r of this.db.prepare('SELECT tbl, idx FROM table_index').all() as {
      tbl: string;
      idx: number;
    }[]) {
      tableIndexes.set(r.tbl, r.idx);
    }
    const last = this.db.prepare("SELECT v FROM meta WHERE k = 'last_index'").get() as
      | { v: string }
      | undefined;
    return { entries, tableIndexes, lastIndex: last === undefined ? 0 : Number(last.v) };
  }

  commit(batch: CommitBatch): void {
    this.commitTxn(batch);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
