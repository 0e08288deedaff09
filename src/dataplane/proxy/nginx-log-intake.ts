// Where meshpeer takes in an nginx child's connection log lines (the nginx sidecar's and the nginx
// gateway's): those of connections that ended well through a buffered file in the engine's directory,
// read as it grows (nginx-connection-log.ts), the rest at once as syslog datagrams on a loopback UDP
// socket of our own (nginx-syntax.ts, accessLogDirectives, writes both).
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { chmod } from 'node:fs/promises';
import type { Logger } from '../../shared/logger.js';
import { NginxConnectionLog } from './nginx-connection-log.js';
import type { NginxAccessLogs } from './nginx-syntax.js';

/**
 * A logger for what nginx prints, as NginxProcess passes it on: a connection log line is handed to
 * `onLine` (which says whether it was one) instead of the log; a line matching `quiet` goes to debug.
 */
export function nginxRelayLogger(base: Logger, onLine: (line: string) => boolean, quiet?: RegExp): Logger {
  const relay = (level: 'info' | 'warn' | 'error') => (fields: object, msg?: string) => {
    if (typeof msg === 'string' && onLine(msg)) return;
    if (typeof msg === 'string' && quiet?.test(msg)) return base.debug(fields, msg);
    base[level](fields, msg);
  };
  return Object.assign(Object.create(base) as Logger, {
    info: relay('info'),
    warn: relay('warn'),
    error: relay('error'),
  });
}

export interface NginxLogIntakeOptions {
  /** The engine's private directory, and the file's name in it. */
  dir: string;
  name: string;
  /** Each line, from either way in; false when it was not a connection line (logged at debug). */
  onLine(line: string): boolean;
  /** Asks nginx to reopen its log files (after a rotation); false when it is not running. */
  reopen(): boolean;
  logger: Logger;
  /** How long nginx may hold lines in its buffer (default 1 s). */
  flushMs?: number;
  /** The file's size at which it is rotated (default 16 MiB). */
  rotateBytes?: number;
}

export class NginxLogIntake {
  private socket: Socket | undefined;
  private file: NginxConnectionLog | undefined;

  constructor(private readonly options: NginxLogIntakeOptions) {}

  /** Creates the file, opens the socket; resolves with what nginx's access_log directives need. */
  async start(): Promise<NginxAccessLogs> {
    const { dir, name, reopen, logger } = this.options;
    const onLine = (line: string): void => {
      if (!this.options.onLine(line)) logger.debug({ line }, 'nginx log line not understood');
    };
    // Started as root, nginx runs its workers as nobody, and each worker opens the log file again
    // itself when told to reopen it (after a rotation): it must be able to pass through the directory.
    // Every file in it stays 0600, readable by its owner alone.
    if (process.getuid?.() === 0) await chmod(dir, 0o711);
    this.file = new NginxConnectionLog({
      dir,
      name,
      onLine,
      reopen,
      logger,
      ...(this.options.rotateBytes !== undefined ? { rotateBytes: this.options.rotateBytes } : {}),
    });
    await this.file.start();
    const socket = createSocket('udp4');
    socket.on('message', (message) => onLine(message.toString('utf8')));
    socket.on('error', (err) => logger.warn({ err: err.message }, 'nginx log socket failed'));
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    this.socket = socket;
    return {
      file: this.file.path,
      flushMs: this.options.flushMs ?? 1_000,
      syslogPort: socket.address().port,
    };
  }

  /** Closes the socket and reads the file to its end. */
  async stop(): Promise<void> {
    this.socket?.close();
    this.socket = undefined;
    await this.file?.stop();
    this.file = undefined;
  }
}
