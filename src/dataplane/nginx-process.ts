// nginx as a child process of meshpeer (the nginx sidecar engine): found on the PATH (or MESHPEER_NGINX),
// with its stream and njs modules (MESHPEER_NGINX_MODULES, else Debian's module directory), its
// configuration checked (`nginx -t`) before it is used, run as a master with one worker, reloaded
// gracefully (SIGHUP: the master starts a new worker on the new configuration; the old one stops
// accepting and exits once its live connections have ended) and stopped with a drain (SIGQUIT, then
// SIGTERM at the deadline). What nginx prints goes to meshpeer's logger, one line at a time.
import { type ChildProcess, execFile } from 'node:child_process';
import { constants, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { invalid, unavailable } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { accessible, EngineChild, findExecutable, spawnEngine } from './engine-child.js';

export const NGINX_INSTALL_HINT =
  'install nginx 1.22 or later with its stream and njs modules (Debian/Ubuntu: apt-get install nginx ' +
  'libnginx-mod-stream libnginx-mod-stream-js; or name the binary in MESHPEER_NGINX and the module ' +
  'directory in MESHPEER_NGINX_MODULES), or run the sidecar or gateway with --engine node';

/** Where Debian and Ubuntu put nginx's dynamic modules. */
const DEFAULT_MODULE_DIRS = ['/usr/lib/nginx/modules', '/usr/lib64/nginx/modules', '/etc/nginx/modules'];
/** The dynamic modules each use needs: the sidecar's identity check runs in njs; the gateway only reads SNI. */
const MODULES = {
  sidecar: ['ngx_stream_module.so', 'ngx_stream_js_module.so'],
  gateway: ['ngx_stream_module.so'],
} as const;
const CLOSE_CHATTER = /SSL_shutdown\(\) failed .*application data after close notify/;

export interface NginxInstall {
  binary: string;
  /** The dynamic modules to load (stream, then njs); empty when nginx has them built in. */
  modules: string[];
}

/** The nginx binary (MESHPEER_NGINX, else the PATH and sbin dirs) and the modules `use` needs. */
export function findNginx(
  env: NodeJS.ProcessEnv = process.env,
  use: keyof typeof MODULES = 'sidecar',
): NginxInstall {
  const binary = findBinary(env);
  const modules = MODULES[use];
  // Set but empty: the modules are built into nginx, as the user says; none is loaded.
  if (env.MESHPEER_NGINX_MODULES === '') return { binary, modules: [] };
  const dirs = env.MESHPEER_NGINX_MODULES ? [env.MESHPEER_NGINX_MODULES] : DEFAULT_MODULE_DIRS;
  for (const dir of dirs) {
    const paths = modules.map((m) => join(dir, m));
    if (paths.every((path) => accessible(path, constants.R_OK))) return { binary, modules: paths };
  }
  throw unavailable(
    `--engine nginx: the ${use === 'sidecar' ? 'stream and njs modules' : 'stream module'} (${modules.join(', ')}) ` +
      `are not in ${dirs.join(' or ')}: ` +
      `${NGINX_INSTALL_HINT} (set MESHPEER_NGINX_MODULES to an empty value if they are built into nginx)`,
  );
}

function findBinary(env: NodeJS.ProcessEnv): string {
  return findExecutable('nginx', 'MESHPEER_NGINX', NGINX_INSTALL_HINT, env);
}

/** Runs `nginx -t` on a configuration file; throws with nginx's own words when it is refused. */
export function checkNginxConfig(binary: string, configFile: string, prefix: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      binary,
      ['-t', '-q', '-e', 'stderr', '-p', prefix, '-c', configFile],
      { timeout: 30_000 },
      (err, stdout, stderr) => {
        if (!err) return resolve();
        const said = `${stderr}${stdout}`.trim().split('\n').slice(-8).join('; ');
        reject(invalid(`nginx refused the generated configuration ${configFile}: ${said || err.message}`));
      },
    );
  });
}

export interface NginxProcessOptions {
  binary: string;
  configFile: string;
  /** nginx's prefix (its private directory). */
  prefix: string;
  logger: Logger;
  /** How long start() and reload() wait for a worker. Default 15 s. */
  readyTimeoutMs?: number;
  /** Called when nginx exits without being asked to (after it had started). */
  onUnexpectedExit?: (code: number | null, signal: string | null) => void;
}

export class NginxProcess {
  private workerPid = 0;
  /** Every worker seen, to stop those a master that died leaves behind. */
  private readonly workersSeen = new Set<number>();
  private readonly life: EngineChild;

  private constructor(
    private readonly child: ChildProcess,
    private readonly options: NginxProcessOptions,
  ) {
    this.life = new EngineChild(child, {
      engine: 'nginx',
      logger: options.logger,
      ...(options.onUnexpectedExit ? { onUnexpectedExit: options.onUnexpectedExit } : {}),
      // Workers outlive a master that was killed, and keep the ports: they go too.
      cleanUp: () => {
        for (const pid of this.workersSeen) {
          if (isWorker(pid)) process.kill(pid, 'SIGKILL');
        }
      },
    });
  }

  private get exited(): boolean {
    return this.life.exited;
  }

  /** Starts the master (in the foreground: `daemon off` is in the configuration) and waits for its worker. */
  static async start(options: NginxProcessOptions): Promise<NginxProcess> {
    const { child, said } = await spawnEngine(
      options.binary,
      ['-e', 'stderr', '-p', options.prefix, '-c', options.configFile],
      NGINX_INSTALL_HINT,
      (line, _stream, pid) => {
        // nginx's own messages carry their level ("[emerg]", "[warn]", ...); access log lines do not.
        const level = /^\S+ \S+ \[(\w+)\]/.exec(line)?.[1];
        // A refused caller (closed right after its handshake) makes nginx report its own shutdown of
        // that session as critical; it is not.
        const at = CLOSE_CHATTER.test(line)
          ? 'debug'
          : level === undefined || level === 'notice' || level === 'info'
            ? 'info'
            : level === 'warn'
              ? 'warn'
              : 'error';
        options.logger[at]({ nginx: pid }, line);
      },
    );
    const running = new NginxProcess(child, options);
    try {
      running.workerPid = await running.waitForWorker([]);
      running.life.markStarted();
    } catch (err) {
      await running.stop(0);
      throw unavailable(`nginx did not start: ${(err as Error).message}; it said: ${said.join(' | ')}`);
    }
    options.logger.info(
      { master: child.pid, worker: running.workerPid, config: options.configFile },
      'nginx started',
    );
    return running;
  }

  get masterPid(): number {
    return this.child.pid ?? 0;
  }

  /** The worker serving new connections (old ones may still be finishing theirs). */
  get currentWorkerPid(): number {
    return this.workerPid;
  }

  /**
   * Graceful reload: the master re-reads the configuration file and starts a new worker; the old one
   * stops accepting and exits once its live connections have ended. Resolves when the new worker runs.
   */
  async reload(): Promise<void> {
    if (this.exited) throw unavailable('nginx is not running');
    const before = this.children();
    const previous = this.workerPid;
    this.child.kill('SIGHUP');
    this.workerPid = await this.waitForWorker(before);
    await this.waitForRetired(before);
    this.options.logger.info({ worker: this.workerPid, previous }, 'nginx reloaded');
  }

  /** Has the master and its workers reopen their log files (SIGUSR1); false when nginx is not running. */
  reopenLogs(): boolean {
    if (this.exited) return false;
    return this.child.kill('SIGUSR1');
  }

  /**
   * Graceful stop (no new connections; live ones continue) for up to `drainMs`, then fast stop of
   * what is left. Resolves once the master has exited.
   */
  stop(drainMs: number): Promise<void> {
    return this.life.stop(drainMs, 'SIGQUIT');
  }

  /** The master's child processes (its workers, current and finishing), from /proc. */
  private children(): number[] {
    const pid = this.child.pid;
    if (pid === undefined) return [];
    try {
      return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
        .trim()
        .split(/\s+/)
        .filter((p) => p !== '')
        .map(Number);
    } catch {
      return [];
    }
  }

  /**
   * Polls until the master has a child that was not among `before` and that runs as a worker
   * (its title says so); returns its pid.
   */
  private async waitForWorker(before: readonly number[]): Promise<number> {
    const deadline = Date.now() + (this.options.readyTimeoutMs ?? 15_000);
    while (Date.now() < deadline) {
      if (this.exited) throw unavailable('nginx exited');
      for (const pid of this.children()) {
        if (!before.includes(pid) && isWorker(pid)) {
          this.workersSeen.add(pid);
          return pid;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw unavailable('no new nginx worker process appeared');
  }

  /**
   * Polls until none of `workers` takes new connections any more: each has exited or says it is
   * shutting down (the master tells old workers to stop accepting once the new one runs).
   */
  private async waitForRetired(workers: readonly number[]): Promise<void> {
    const deadline = Date.now() + (this.options.readyTimeoutMs ?? 15_000);
    while (Date.now() < deadline) {
      if (workers.every((pid) => titleOf(pid) !== WORKER_TITLE)) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw unavailable('the old nginx worker still takes new connections');
  }
}

const WORKER_TITLE = 'nginx: worker process';

/** A process's title as nginx sets it ('' once it is gone). */
function titleOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').trim();
  } catch {
    return '';
  }
}

function isWorker(pid: number): boolean {
  return titleOf(pid).startsWith(WORKER_TITLE);
}
