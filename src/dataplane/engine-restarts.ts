// Starting an engine (HAProxy, nginx) again after it died without being asked to: in the apply line's
// turn (never beside an apply or a reload), after a delay that doubles, up to 30 s, while starting it
// fails.
import type { Logger } from '../shared/logger.js';

const FIRST_DELAY_MS = 1_000;
const MAX_DELAY_MS = 30_000;

export class EngineRestarts {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly line: { run(work: () => Promise<void>): void },
    private readonly logger: Logger,
    /** Whether the engine still runs (false once it is stopping). */
    private readonly active: () => boolean,
    /**
     * Starts the engine on the newest configuration; resolves with the new worker's pid, or undefined when
     * there is nothing to start on. Throws when it could not.
     */
    private readonly restart: () => Promise<number | undefined>,
    /** The engine's name, for the log. */
    private readonly engine: string = 'haproxy',
  ) {}

  /** The engine is down: start it again `delayMs` from now. */
  schedule(delayMs = FIRST_DELAY_MS): void {
    if (!this.active()) return;
    this.logger.error({ inMs: delayMs }, `${this.engine} is down: restarting it`);
    this.timer = setTimeout(() => {
      this.line.run(async () => {
        if (!this.active()) return;
        try {
          const worker = await this.restart();
          if (worker !== undefined) this.logger.info({ worker }, `${this.engine} restarted`);
        } catch (err) {
          this.logger.error({ err: (err as Error).message }, `could not restart ${this.engine}`);
          this.schedule(Math.min(delayMs * 2, MAX_DELAY_MS));
        }
      });
    }, delayMs);
  }

  /** No restart from now on (the engine is stopping). */
  cancel(): void {
    clearTimeout(this.timer);
  }
}
