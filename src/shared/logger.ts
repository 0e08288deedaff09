// The one structured logger: JSON lines on stderr (pino), level from MESHPEER_LOG_LEVEL or --log-level.
import { type Logger, pino } from 'pino';

export type { Logger };

export function createLogger(options: { name: string; level?: string }): Logger {
  return pino(
    {
      name: options.name,
      level: options.level ?? process.env.MESHPEER_LOG_LEVEL ?? 'info',
      base: { component: options.name },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination({ fd: 2, sync: false }),
  );
}

/** A logger that drops everything; for unit tests of one module. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
