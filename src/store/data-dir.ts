// The data dir holds the CA's private keys, ACL token secrets and peering secrets, so only the server's
// own user may read it: it is created 0700, the state database files are created (and kept) 0600, and
// a server refuses to start on a dir that group or others can read, write or enter, unless told to
// (--allow-insecure-data-dir).
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const STATE_DB = 'state.db';
/** The database and the files SQLite keeps next to it. */
const STATE_FILES = [STATE_DB, `${STATE_DB}-wal`, `${STATE_DB}-shm`, `${STATE_DB}-journal`];

export interface DataDirResult {
  /** Said when an insecure dir was accepted with allowInsecure, for the log. */
  warning?: string;
}

const octal = (mode: number): string => `0${(mode & 0o777).toString(8)}`;

/**
 * Makes `dir` ready to hold the state: creates it 0700 if missing, refuses (throws, saying what to do)
 * a dir others can access unless `allowInsecure`, and creates the database file 0600 (SQLite gives its
 * -wal and -shm files the database file's mode) or narrows existing state files to 0600.
 */
export function prepareDataDir(dir: string, allowInsecure: boolean): DataDirResult {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = statSync(dir);
  if (!stat.isDirectory()) throw new Error(`--data-dir ${dir} is not a directory`);
  const result: DataDirResult = {};
  if ((stat.mode & 0o077) !== 0) {
    const problem =
      `data dir ${dir} has mode ${octal(stat.mode)}: other users can access it, and it holds the CA ` +
      'private keys, ACL token secrets and peering secrets';
    if (!allowInsecure) {
      throw new Error(
        `${problem}. Run \`chmod 700 ${dir}\` (or give a new directory: the server creates it 0700), ` +
          'or pass --allow-insecure-data-dir to start anyway',
      );
    }
    result.warning = `${problem}; starting anyway (--allow-insecure-data-dir)`;
  }
  if (typeof process.getuid === 'function' && stat.uid !== process.getuid()) {
    const owner = `data dir ${dir} belongs to uid ${stat.uid}, not to the server's user (uid ${process.getuid()})`;
    if (!allowInsecure) {
      throw new Error(`${owner}; chown it to the server's user, or pass --allow-insecure-data-dir`);
    }
    result.warning = result.warning === undefined ? owner : `${result.warning}; ${owner}`;
  }
  const db = join(dir, STATE_DB);
  if (!existsSync(db)) closeSync(openSync(db, 'a', 0o600));
  for (const name of STATE_FILES) {
    const path = join(dir, name);
    if (existsSync(path) && (statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  }
  return result;
}
