// The life of a proxy engine's master process (HAProxy, nginx) as a child of meshpeer: noticing when it
// exits (and whether that was asked for), taking it down if meshpeer itself exits first (even in the
// middle of a drain, so a second signal that ends meshpeer ends the engine too), and stopping it with a
// drain: the engine's own soft-stop signal, then SIGTERM at the deadline, then SIGKILL. Also where the
// engine binaries are looked for.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import { unavailable } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';

export interface EngineChildOptions {
  /** For the log: "haproxy", "nginx". */
  engine: string;
  logger: Logger;
  /** Called when the engine exits without being asked to, once it had started. */
  onUnexpectedExit?: (code: number | null, signal: string | null) => void;
  /** Runs first when the engine exits unasked (e.g. to stop workers it left behind). */
  cleanUp?: () => void;
}

export class EngineChild {
  private stopping = false;
  private started = false;
  private gone = false;
  readonly exit: Promise<void>;

  constructor(
    readonly child: ChildProcess,
    private readonly options: EngineChildOptions,
  ) {
    this.exit = once(child, 'exit').then(([code, signal]) => {
      this.gone = true;
      process.off('exit', this.killOnExit);
      if (this.stopping) return;
      options.logger.error({ code, signal }, `${options.engine} exited on its own`);
      options.cleanUp?.();
      if (this.started) options.onUnexpectedExit?.(code as number | null, signal as string | null);
    });
    // If meshpeer itself goes, the engine must not stay behind holding the ports.
    process.once('exit', this.killOnExit);
  }

  get exited(): boolean {
    return this.gone;
  }

  /** From now on an exit nobody asked for is reported (onUnexpectedExit). */
  markStarted(): void {
    this.started = true;
  }

  /**
   * `softSignal` (no new connections; live ones continue) for up to `drainMs`, then SIGTERM for what is
   * left, SIGKILL after 5 s more. Resolves once the process has exited.
   */
  async stop(drainMs: number, softSignal: NodeJS.Signals): Promise<void> {
    if (this.gone) return;
    this.stopping = true;
    this.child.kill(softSignal);
    if (await this.exitsWithin(drainMs)) return;
    this.options.logger.info(
      { drainMs },
      `${this.options.engine} drain time is up: closing the remaining connections`,
    );
    this.child.kill('SIGTERM');
    if (await this.exitsWithin(5_000)) return;
    this.child.kill('SIGKILL');
    await this.exit;
  }

  private readonly killOnExit = (): void => {
    if (!this.gone) this.child.kill('SIGTERM');
  };

  private async exitsWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    const done = await Promise.race([this.exit.then(() => true), timeout]);
    clearTimeout(timer);
    return done;
  }
}

/**
 * Runs the engine binary with `args`, every line it prints on stdout or stderr handed to `relay`, and
 * waits until it has started (throws, with `hint`, when it cannot be run). `said` keeps its first 20
 * lines, to quote if it does not come up.
 */
export async function spawnEngine(
  binary: string,
  args: readonly string[],
  hint: string,
  relay: (line: string, stream: 'stdout' | 'stderr', pid: number | undefined) => void,
): Promise<{ child: ChildProcess; said: string[] }> {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const said: string[] = [];
  const forward = (stream: NodeJS.ReadableStream | null, name: 'stdout' | 'stderr'): void => {
    if (!stream) return;
    createInterface({ input: stream }).on('line', (line) => {
      if (said.length < 20) said.push(line);
      relay(line, name, child.pid);
    });
  };
  forward(child.stdout, 'stdout');
  forward(child.stderr, 'stderr');
  const failed = await Promise.race([
    once(child, 'spawn').then(() => undefined),
    once(child, 'error').then(([err]) => err as Error),
  ]);
  if (failed) throw unavailable(`cannot run ${binary}: ${failed.message}: ${hint}`);
  return { child, said };
}

/**
 * The engine binary `name`: the path in `env[variable]` if set (it must be executable), else the first
 * `name` on the PATH or in the sbin directories. Throws with `hint` (how to install it) when there is none.
 */
export function findExecutable(
  name: string,
  variable: string,
  hint: string,
  env: NodeJS.ProcessEnv = process.env,
): string {
  const explicit = env[variable];
  if (explicit) {
    if (executable(explicit)) return explicit;
    throw unavailable(`${name} binary ${explicit} is not an executable file: ${hint}`);
  }
  const dirs = [...(env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    if (dir && executable(join(dir, name))) return join(dir, name);
  }
  throw unavailable(`--engine ${name}: no ${name} binary found: ${hint}`);
}

function executable(path: string): boolean {
  return accessible(path, constants.X_OK);
}

/** Whether this process may access `path` as `mode` says (fs.constants.R_OK, X_OK, ...). */
export function accessible(path: string, mode: number): boolean {
  try {
    accessSync(path, mode);
    return true;
  } catch {
    return false;
  }
}
