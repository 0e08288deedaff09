// nginx's buffered connection log, read as it grows. nginx appends one line per connection that ended
// well to a file in the sidecar's directory, from a buffer it flushes at least every flush interval, so
// a busy sidecar costs meshpeer one read per flush rather than one wake-up per connection. meshpeer reads
// the new complete lines when the directory says the file changed (inotify, through fs.watch) and, in
// case a change went unseen, every `pollMs`. Past `rotateBytes` the file is renamed, a fresh one put in
// its place and nginx told to reopen its logs (SIGUSR1 to the master); the renamed file is still read
// for `retireMs` (nginx writes to it until its workers have reopened), then read to its end and removed.
import { type FSWatcher, watch } from 'node:fs';
import { type FileHandle, open, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../shared/logger.js';

export interface NginxConnectionLogOptions {
  /** The sidecar's directory and the log's file name in it. */
  dir: string;
  name: string;
  /** Called with each complete line, in file order. */
  onLine(line: string): void;
  /** Asks nginx to reopen its log files; false when nginx is not running. */
  reopen(): boolean;
  logger: Logger;
  /** Read at least this often (default 2 s). */
  pollMs?: number;
  /** Rotate once the file holds this much (default 16 MiB). */
  rotateBytes?: number;
  /** How long a rotated file is still read after nginx was told to reopen (default 5 s). */
  retireMs?: number;
}

/** One file being read: how far, and the incomplete line at its end. */
interface Cursor {
  path: string;
  offset: number;
  partial: string;
}

const CHUNK = 1024 * 1024;

/** A rotated file's name is the log's with this after it. */
export const RETIRED_SUFFIX = '.old';

export class NginxConnectionLog {
  private current: Cursor;
  private retiring: (Cursor & { until: number }) | undefined;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private again = false;

  constructor(private readonly options: NginxConnectionLogOptions) {
    this.current = { path: join(options.dir, options.name), offset: 0, partial: '' };
  }

  get path(): string {
    return this.current.path;
  }

  /** Creates the file (0600, so nginx appends to ours) and starts following it. */
  async start(): Promise<void> {
    await writeFile(this.current.path, '', { mode: 0o600, flag: 'a' });
    try {
      this.watcher = watch(this.options.dir, { persistent: false }, (_event, file) => {
        if (file === null || String(file).startsWith(this.options.name)) void this.read();
      });
      this.watcher.on('error', (err) => {
        this.options.logger.warn(
          { err: err.message },
          'watching the nginx connection log failed; polling it',
        );
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (err) {
      this.options.logger.warn(
        { err: (err as Error).message },
        'cannot watch the nginx connection log; polling it',
      );
    }
    this.timer = setInterval(() => void this.read(), this.options.pollMs ?? 2_000);
    this.timer.unref();
  }

  /** Reads every complete line written so far (one read at a time; a call during one runs after it). */
  read(): Promise<void> {
    if (this.reading) {
      this.again = true;
      return this.reading;
    }
    this.reading = (async () => {
      try {
        do {
          this.again = false;
          await this.readOnce();
        } while (this.again);
      } catch (err) {
        this.options.logger.warn({ err: (err as Error).message }, 'reading the nginx connection log failed');
      } finally {
        this.reading = undefined;
      }
    })();
    return this.reading;
  }

  /** Stops following and reads what is left (nginx has stopped: its buffers are in the file). */
  async stop(): Promise<void> {
    this.watcher?.close();
    this.watcher = undefined;
    clearInterval(this.timer);
    // A read under way runs once more after itself.
    await this.read();
    if (this.retiring) await this.retire(this.retiring);
  }

  private async readOnce(): Promise<void> {
    if (this.retiring) {
      // Retiring reads the file to its end itself.
      if (Date.now() >= this.retiring.until) await this.retire(this.retiring);
      else await this.follow(this.retiring);
    }
    await this.follow(this.current);
    if (!this.retiring && this.current.offset >= (this.options.rotateBytes ?? 16 * 1024 * 1024)) {
      await this.rotate();
    }
  }

  /** Hands the lines completed since the cursor to onLine. */
  private async follow(cursor: Cursor): Promise<void> {
    let file: FileHandle;
    try {
      file = await open(cursor.path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    try {
      const { size } = await file.stat();
      if (size < cursor.offset) {
        // Replaced or cut short by someone else: start over from its beginning.
        cursor.offset = 0;
        cursor.partial = '';
      }
      const buffer = Buffer.alloc(Math.min(CHUNK, Math.max(0, size - cursor.offset)));
      while (cursor.offset < size) {
        const { bytesRead } = await file.read(
          buffer,
          0,
          Math.min(buffer.length, size - cursor.offset),
          cursor.offset,
        );
        if (bytesRead === 0) break;
        cursor.offset += bytesRead;
        // nginx escapes every byte outside printable ASCII, so a line is ASCII and a chunk boundary
        // never splits a character.
        const lines = (cursor.partial + buffer.toString('latin1', 0, bytesRead)).split('\n');
        cursor.partial = lines.pop() ?? '';
        for (const line of lines) if (line !== '') this.options.onLine(line);
      }
    } finally {
      await file.close();
    }
  }

  private async rotate(): Promise<void> {
    const retired = `${this.current.path}${RETIRED_SUFFIX}`;
    await rename(this.current.path, retired);
    await writeFile(this.current.path, '', { mode: 0o600, flag: 'a' });
    const reopened = this.options.reopen();
    this.retiring = {
      ...this.current,
      path: retired,
      until: Date.now() + (reopened ? (this.options.retireMs ?? 5_000) : 0),
    };
    this.current = { path: this.current.path, offset: 0, partial: '' };
    this.options.logger.debug({ bytes: this.retiring.offset }, 'nginx connection log rotated');
  }

  private async retire(cursor: Cursor): Promise<void> {
    await this.follow(cursor);
    if (cursor.partial !== '') this.options.onLine(cursor.partial);
    await rm(cursor.path, { force: true });
    this.retiring = undefined;
    this.options.logger.debug({ bytes: cursor.offset }, 'nginx connection log retired');
  }
}
