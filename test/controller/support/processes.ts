// Real processes for the controller tests: `meshpeer controller` and `meshpeer server` from dist/,
// kube-apiservers with the CRDs installed (and restarted in place), and polling helpers. Every
// process started here is tracked by PID and killed when the test process exits.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  type KubeApiServer,
  kubectlOk,
  repoRoot,
  run,
  startKubeApiServer,
} from '../../support/kube-apiserver.js';

export { freePort } from '../../../src/shared/testing/free-port.js';

const mainJs = path.join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const crdDir = path.join(repoRoot, 'deploy', 'crds');

export interface Proc {
  pid: number;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (or 128+signal) once it has exited. */
  exited: Promise<number>;
  /** Sends `signal` and waits for the exit (SIGKILL after `graceMs`). */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) {
    if (child.pid !== undefined && child.exitCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
});

function startProcess(args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(process.execPath, args, {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    output += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    output += d;
  });
  const exited = new Promise<number>((resolve) => {
    child.on('exit', (code, signal) => {
      live.delete(child);
      resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15));
    });
  });
  if (child.pid === undefined) throw new Error(`could not start node ${args.join(' ')}`);
  const pid = child.pid;
  return {
    pid,
    output: () => output,
    exited,
    async stop(signal = 'SIGTERM', graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      process.kill(pid, signal);
      const timer = setTimeout(() => {
        if (child.exitCode === null) process.kill(pid, 'SIGKILL');
      }, graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** `meshpeer controller ...` as a real process. */
export async function startController(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Proc> {
  return startProcess([mainJs, 'controller', ...args], { MESHPEER_LOG_LEVEL: 'debug', ...env });
}

/** A kube-apiserver with the CRDs installed and Established. */
export async function startCluster(name: string): Promise<KubeApiServer> {
  const api = await startKubeApiServer(name);
  await kubectlOk(api.kubeconfigPath, ['apply', '-f', crdDir]);
  await kubectlOk(api.kubeconfigPath, [
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    'crd',
    '--all',
  ]);
  return api;
}

/**
 * Kills the cluster's kube-apiserver and starts it again with the same flags (same port, same etcd),
 * as after a crash. Returns once /readyz answers again.
 */
export async function restartApiServer(api: KubeApiServer, downMs = 1_000): Promise<void> {
  const pidFile = path.join(api.dir, 'kube-apiserver.pid');
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    .split('\0')
    .filter((a) => a !== '');
  // A crash rather than a graceful stop: a terminating kube-apiserver drains watches for up to a minute.
  process.kill(pid, 'SIGKILL');
  await waitFor(() => !isAlive(pid), { timeoutMs: 10_000, what: 'kube-apiserver to stop' });
  await sleep(downMs);
  const log = openSync(path.join(api.dir, 'kube-apiserver.log'), 'a');
  const [command, ...args] = argv;
  if (!command) throw new Error('empty kube-apiserver command line');
  const child = spawn(command, args, { stdio: ['ignore', log, log], detached: true });
  child.unref();
  closeSync(log);
  if (child.pid === undefined) throw new Error('could not restart kube-apiserver');
  // k8s-up.sh --down stops whatever PID the file names: keep it pointing at the live process.
  writeFileSync(pidFile, `${child.pid}\n`);
  await waitFor(
    async () => {
      const r = await run('kubectl', ['--kubeconfig', api.kubeconfigPath, 'get', '--raw', '/readyz']);
      return r.code === 0;
    },
    { timeoutMs: 60_000, what: 'kube-apiserver to be ready again' },
  );
}

function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \([^)]*\) Z/.test(stat);
  } catch {
    return false;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  what: string;
  /** Extra text for the timeout error (logs). */
  onTimeout?: () => string;
}

/** Polls `check` until it returns true (or a non-false value, which is returned). */
export async function waitFor<T>(
  check: () => Promise<T | false> | T | false,
  options: WaitOptions,
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      const extra = options.onTimeout ? `\n${options.onTimeout().slice(-6000)}` : '';
      throw new Error(`timed out waiting for ${options.what}${detail}${extra}`);
    }
    await sleep(options.intervalMs ?? 200);
  }
}

/** `kubectl get ... -o json`, parsed; undefined when it does not exist. */
export async function getJson(kubeconfig: string, args: string[]): Promise<KubeObject | undefined> {
  const r = await run('kubectl', ['--kubeconfig', kubeconfig, 'get', ...args, '-o', 'json']);
  if (r.code !== 0) {
    if (/NotFound|not found/.test(r.stderr)) return undefined;
    throw new Error(`kubectl get ${args.join(' ')}: ${r.stderr}`);
  }
  return JSON.parse(r.stdout) as KubeObject;
}

export interface KubeObject {
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    finalizers?: string[];
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [key: string]: unknown;
  };
  spec?: Record<string, unknown>;
  status?: {
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
    peeringState?: string;
    latestPeeringVersion?: number;
    lastSyncedTime?: string;
    secret?: { name?: string; key?: string; backend?: string; latestHash?: string; resourceVersion?: string };
  };
  data?: Record<string, string>;
  items?: KubeObject[];
  [key: string]: unknown;
}

export function synced(
  obj: KubeObject | undefined,
): { status: string; reason?: string; message?: string } | undefined {
  return obj?.status?.conditions?.find((c) => c.type === 'Synced');
}
