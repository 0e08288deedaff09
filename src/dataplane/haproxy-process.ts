// HAProxy as a child process of meshpeer: found on the PATH (or MESHPEER_HAPROXY), its configuration
// checked before it is used, run in master-worker mode, talked to over its worker's runtime API socket,
// reloaded seamlessly (the master starts a new worker that takes over the listening sockets; the old one
// finishes its live connections) and stopped with a drain (soft stop, then hard stop at the deadline).
// What HAProxy prints goes to meshpeer's logger, one line at a time.
import { type ChildProcess, execFile } from 'node:child_process';
import * as net from 'node:net';
import { invalid, unavailable } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { EngineChild, findExecutable, spawnEngine } from './engine-child.js';

export const HAPROXY_INSTALL_HINT =
  'install HAProxy 2.6 or later (Debian/Ubuntu: apt-get install haproxy; or put its binary on the PATH ' +
  'or in MESHPEER_HAPROXY), or run the gateway or sidecar with --engine node';

/** The haproxy binary to run: MESHPEER_HAPROXY, else the first `haproxy` on the PATH or in the sbin dirs. */
export function findHaproxy(env: NodeJS.ProcessEnv = process.env): string {
  return findExecutable('haproxy', 'MESHPEER_HAPROXY', HAPROXY_INSTALL_HINT, env);
}

/** Runs `haproxy -c` on a configuration file; throws with HAProxy's own words when it is refused. */
export function checkHaproxyConfig(binary: string, configFile: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(binary, ['-c', '-q', '-f', configFile], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (!err) return resolve();
      const said = `${stderr}${stdout}`.trim().split('\n').slice(-8).join('; ');
      reject(invalid(`haproxy refused the generated configuration ${configFile}: ${said || err.message}`));
    });
  });
}

/** One command on a runtime API (stats or master) socket; resolves with the answer's text. */
export function haproxyCommand(socketPath: string, command: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let answer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(unavailable(`haproxy did not answer "${command}" within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      answer += chunk;
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(answer);
    });
    socket.once('connect', () => socket.end(`${command}\n`));
  });
}

export interface HaproxyProcessOptions {
  binary: string;
  configFile: string;
  /** The worker's admin socket, as the configuration declares it (`stats socket ... level admin`). */
  adminSocket: string;
  /** The master CLI socket (`-S`). */
  masterSocket: string;
  logger: Logger;
  /** How long start() and reload() wait for a worker to answer. Default 15 s. */
  readyTimeoutMs?: number;
  /** Called when HAProxy exits without being asked to (after it had started). */
  onUnexpectedExit?: (code: number | null, signal: string | null) => void;
}

export class HaproxyProcess {
  private workerPid = 0;
  private readonly life: EngineChild;

  private constructor(
    private readonly child: ChildProcess,
    private readonly options: HaproxyProcessOptions,
  ) {
    this.life = new EngineChild(child, {
      engine: 'haproxy',
      logger: options.logger,
      ...(options.onUnexpectedExit ? { onUnexpectedExit: options.onUnexpectedExit } : {}),
    });
  }

  private get exited(): boolean {
    return this.life.exited;
  }

  /** Starts the master and waits for its first worker to answer on the admin socket. */
  static async start(options: HaproxyProcessOptions): Promise<HaproxyProcess> {
    const { child, said } = await spawnEngine(
      options.binary,
      ['-W', '-S', `${options.masterSocket},mode,600`, '-f', options.configFile],
      HAPROXY_INSTALL_HINT,
      (line, stream, pid) => {
        // HAProxy's own messages carry their severity; its connection log lines (stdout) do not.
        const severity = /^\[(NOTICE|WARNING|ALERT)\]/.exec(line)?.[1];
        const fallback = stream === 'stdout' ? 'info' : 'warn';
        const at = severity === 'NOTICE' ? 'info' : severity === 'ALERT' ? 'error' : fallback;
        options.logger[at]({ haproxy: pid }, line);
      },
    );
    const running = new HaproxyProcess(child, options);
    try {
      running.workerPid = await running.waitForWorker(0);
      await running.waitForMaster(running.workerPid);
      running.life.markStarted();
    } catch (err) {
      await running.stop(0);
      throw unavailable(`haproxy did not start: ${(err as Error).message}; it said: ${said.join(' | ')}`);
    }
    options.logger.info(
      { master: child.pid, worker: running.workerPid, config: options.configFile },
      'haproxy started',
    );
    return running;
  }

  get binaryPath(): string {
    return this.options.binary;
  }

  get masterPid(): number {
    return this.child.pid ?? 0;
  }

  /** The worker serving new connections (old ones may still be finishing theirs). */
  get currentWorkerPid(): number {
    return this.workerPid;
  }

  /** One runtime API command on the current worker. */
  command(command: string): Promise<string> {
    return haproxyCommand(this.options.adminSocket, command);
  }

  /**
   * Seamless reload: the master re-reads the configuration file and starts a new worker, which takes
   * the listening sockets over from the old one; the old worker stops accepting and exits once its
   * live connections have ended. Resolves when the new worker answers.
   */
  async reload(): Promise<void> {
    if (this.exited) throw unavailable('haproxy is not running');
    const previous = this.workerPid;
    this.child.kill('SIGUSR2');
    this.workerPid = await this.waitForWorker(previous);
    await this.waitForMaster(this.workerPid);
    this.options.logger.info({ worker: this.workerPid, previous }, 'haproxy reloaded');
  }

  /**
   * Soft stop (no new connections; live ones continue) for up to `drainMs`, then hard stop of what is
   * left. Resolves once the master has exited.
   */
  stop(drainMs: number): Promise<void> {
    return this.life.stop(drainMs, 'SIGUSR1');
  }

  /**
   * Polls the master CLI until it lists `worker` as its current worker. The master re-executes itself
   * once a worker is up, and a signal it gets before it is back would be lost; once it answers, it
   * handles the signals of reload and stop.
   */
  private async waitForMaster(worker: number): Promise<void> {
    await this.poll(
      this.options.masterSocket,
      'show proc',
      `the haproxy master did not report worker ${worker}`,
      (proc) =>
        currentWorkers(proc).includes(worker)
          ? { done: true, value: undefined }
          : { done: false, why: `the master lists workers ${currentWorkers(proc).join(', ') || 'none'}` },
    );
  }

  /** Polls the admin socket until a worker other than `previous` answers; returns its pid. */
  private waitForWorker(previous: number): Promise<number> {
    return this.poll(
      this.options.adminSocket,
      'show info',
      `no new haproxy worker answered on ${this.options.adminSocket}`,
      (info) => {
        const pid = Number(/^Pid: (\d+)$/m.exec(info)?.[1] ?? 0);
        if (pid > 0 && pid !== previous) return { done: true, value: pid };
        return {
          done: false,
          why: pid > 0 ? `worker ${pid} still answers` : `unexpected answer: ${info.slice(0, 80)}`,
        };
      },
    );
  }

  /**
   * Sends `command` to `socket` every 25 ms until `check` accepts the answer, HAProxy exits, or the
   * ready timeout passes (then fails with `failure` and the last reason).
   */
  private async poll<T>(
    socket: string,
    command: string,
    failure: string,
    check: (answer: string) => { done: true; value: T } | { done: false; why: string },
  ): Promise<T> {
    const deadline = Date.now() + (this.options.readyTimeoutMs ?? 15_000);
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      if (this.exited) throw unavailable('haproxy exited');
      try {
        const result = check(await haproxyCommand(socket, command, 2_000));
        if (result.done) return result.value;
        last = result.why;
      } catch (err) {
        last = (err as Error).message;
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw unavailable(`${failure} (${last})`);
  }
}

/** The pids `show proc` lists under "# workers" (not old workers, which are finishing). */
export function currentWorkers(showProc: string): number[] {
  const pids: number[] = [];
  let inWorkers = false;
  for (const line of showProc.split('\n')) {
    if (line.startsWith('#')) {
      inWorkers = line.trim() === '# workers';
      continue;
    }
    const match = /^(\d+)\s+worker\b/.exec(line);
    if (inWorkers && match) pids.push(Number(match[1]));
  }
  return pids;
}
