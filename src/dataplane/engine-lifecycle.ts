// The lifecycle every component that drives an engine (HAProxy, nginx) shares, sidecar or gateway: it
// follows its configuration source from the first snapshot on, applies later snapshots one at a time,
// the newest first (newest-first.ts), starts the engine again when it dies unasked (with backoff,
// engine-restarts.ts), and stops by draining: no new connections, live ones get the drain time, then the
// engine stops. What a snapshot becomes and how it reaches the engine is the component's own.
import type { Logger } from '../shared/logger.js';
import type { ConfigSource, Unsubscribe } from './config-source.js';
import { EngineRestarts } from './engine-restarts.js';
import { NewestFirst } from './newest-first.js';

/** The engine's processes as the component sees them. */
export interface EngineHandle {
  readonly currentWorkerPid: number;
  readonly masterPid: number;
  stop(drainMs: number): Promise<void>;
}

export abstract class EngineLifecycle<S, E extends EngineHandle> {
  /** The running engine; undefined before start and while it is down. */
  protected engine: E | undefined;
  protected stopped = false;
  /** Snapshots are applied one at a time, newest wins; restarts take their turn in the same line. */
  protected readonly updates: NewestFirst<S>;
  protected readonly restarts: EngineRestarts;
  private unsubscribe: Unsubscribe | undefined;

  constructor(
    protected readonly logger: Logger,
    /** How the log names the component and its engine: "sidecar (nginx)", "mesh gateway (haproxy)". */
    protected readonly label: string,
    /** The engine's name, for the log. */
    protected readonly engineName: string,
  ) {
    this.updates = new NewestFirst<S>(
      (snapshot) => (this.stopped ? Promise.resolve() : this.apply(snapshot)),
      (err) =>
        this.logger.error(
          { err: err.message },
          `could not apply the new configuration to ${engineName}; it keeps serving the previous one`,
        ),
    );
    this.restarts = new EngineRestarts(
      this.updates,
      this.logger,
      () => !this.stopped,
      () => this.restart(),
      engineName,
    );
  }

  /**
   * Follows `source` from its first snapshot (waiting at most `timeoutMs`); later snapshots wait until
   * `open()`, called once the engine runs on the first.
   */
  protected async follow(
    source: ConfigSource<S>,
    timeoutMs: number,
    what: string,
  ): Promise<{ first: S; open(): void }> {
    const { first, unsubscribe, open } = await this.updates.follow(source, { timeoutMs, what });
    this.unsubscribe = unsubscribe;
    return { first, open };
  }

  /** Stops following the source (a start that failed). */
  protected unfollow(): void {
    this.unsubscribe?.();
  }

  /** The engine worker that takes new connections (0 while it is down). */
  get workerPid(): number {
    return this.engine?.currentWorkerPid ?? 0;
  }

  /** The engine's master process (0 while it is down). */
  get masterPid(): number {
    return this.engine?.masterPid ?? 0;
  }

  /** Resolves once every snapshot received so far has been applied (or found unusable). */
  settled(): Promise<void> {
    return this.updates.settled();
  }

  /** Stops accepting, gives live connections `drainMs` to finish, then stops the engine. */
  async stop(drainMs = 0): Promise<void> {
    this.stopped = true;
    this.restarts.cancel();
    this.unsubscribe?.();
    await this.updates.settled();
    if (this.engine) {
      this.logger.info({ drainMs }, `${this.label} draining`);
      await this.engine.stop(drainMs);
      this.logger.info(`${this.label} stopped`);
    }
    this.engine = undefined;
    await this.cleanup();
  }

  /** For the engine's onUnexpectedExit: it is down, and starts again after a delay. */
  protected readonly engineDied = (): void => {
    this.engine = undefined;
    this.restarts.schedule();
  };

  /** Brings the running engine to a newer snapshot (or remembers it while the engine is down). */
  protected abstract apply(snapshot: S): Promise<void>;
  /** Starts the engine again on the newest snapshot; resolves with its worker's pid. */
  protected abstract restart(): Promise<number | undefined>;
  /** Removes what start prepared, once the engine has stopped. */
  protected abstract cleanup(): Promise<void> | void;
}
