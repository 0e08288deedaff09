// A real kube-apiserver + etcd for tests, started by scripts/k8s-up.sh on loopback ports.
//
//   const api = await startKubeApiServer('crds');   // builds the binaries first when missing
//   await kubectl(api.kubeconfigPath, ['apply', '-f', 'deploy/crds']);
//   await api.stop();
//
// The cluster has no controller-manager, scheduler or kubelet: namespaces never finish
// terminating, owner references are not garbage-collected, Pods never run.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const scriptsDir = path.join(repoRoot, 'scripts');

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface KubeApiServer {
  /** The name the pair runs under (the requested name plus a random suffix). */
  name: string;
  kubeconfigPath: string;
  /** https://127.0.0.1:PORT */
  server: string;
  /** Bearer token of the admin user (group system:masters). */
  token: string;
  /** The pair's directory: logs, kubeconfig, certificates, etcd data. */
  dir: string;
  /** Stop both processes and remove the directory. Safe to call twice. */
  stop(): Promise<void>;
}

interface UpState {
  name: string;
  kubeconfig: string;
  server: string;
  token: string;
  dir: string;
  apiserverPid: number;
  etcdPid: number;
  readyMs: number;
}

interface RunOptions {
  stdin?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Pass the child's stderr through to ours as it arrives (it is still captured). */
  teeStderr?: boolean;
}

/** Runs a command to completion; never rejects for a non-zero exit, only when it cannot start. */
export function run(command: string, args: string[], opts: RunOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: repoRoot,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (opts.teeStderr) process.stderr.write(d);
    });
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGTERM');
          }, opts.timeoutMs);
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (timedOut) stderr += `\n[timed out after ${opts.timeoutMs} ms]`;
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin.on('error', () => {
      // The child may exit without reading its input; that is its answer, not our error.
    });
    child.stdin.end(opts.stdin ?? '');
  });
}

/** kubectl against one cluster. Resolves with the exit code; does not throw on failure. */
export function kubectl(
  kubeconfigPath: string,
  args: string[],
  stdin?: string,
  timeoutMs = 60_000,
): Promise<ExecResult> {
  // The discovery cache lives beside the kubeconfig, so it goes away with the cluster instead of
  // piling up in ~/.kube/cache under a new random port each run.
  const env = {
    ...process.env,
    KUBECONFIG: kubeconfigPath,
    KUBECACHEDIR: path.join(path.dirname(kubeconfigPath), 'kubectl-cache'),
  };
  return run('kubectl', ['--kubeconfig', kubeconfigPath, ...args], {
    env,
    timeoutMs,
    ...(stdin === undefined ? {} : { stdin }),
  });
}

/** kubectl that throws, with its stderr in the message, unless it exits 0. Returns stdout. */
export async function kubectlOk(kubeconfigPath: string, args: string[], stdin?: string): Promise<string> {
  const r = await kubectl(kubeconfigPath, args, stdin);
  if (r.code !== 0) {
    throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  }
  return r.stdout;
}

const BUILD_TIMEOUT_MS = 30 * 60_000;
let building: Promise<void> | undefined;

function binariesPresent(): boolean {
  if (process.env.KUBE_APISERVER && process.env.ETCD) return true;
  const cache = process.env.MESHPEER_CACHE ?? path.join(os.homedir(), '.cache', 'meshpeer');
  const bin = path.join(cache, 'k8s', process.env.K8S_VERSION ?? 'v1.37.2', 'bin');
  return existsSync(path.join(bin, 'kube-apiserver')) && existsSync(path.join(bin, 'etcd'));
}

/** Builds kube-apiserver and etcd unless cached (scripts/k8s-build.sh; ~5 min cold, instant after). */
export function buildKubeApiServer(): Promise<void> {
  if (binariesPresent()) return Promise.resolve();
  building ??= run(path.join(scriptsDir, 'k8s-build.sh'), [], {
    timeoutMs: BUILD_TIMEOUT_MS,
    teeStderr: true,
  }).then((r) => {
    if (r.code !== 0) {
      building = undefined;
      throw new Error(`scripts/k8s-build.sh failed (exit ${r.code}):\n${r.stderr.slice(-4000)}`);
    }
  });
  return building;
}

// Pairs started by this process and not yet stopped: killed on exit if a test forgot to, or
// failed before its afterAll ran.
const live = new Map<string, UpState>();

function ownedPid(pid: number, dir: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`${dir}/`);
  } catch {
    return false;
  }
}

let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const s of live.values()) {
      for (const pid of [s.apiserverPid, s.etcdPid]) {
        if (ownedPid(pid, s.dir)) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }
      rmSync(s.dir, { recursive: true, force: true });
    }
  });
}

/**
 * Starts one etcd + kube-apiserver pair and resolves once /readyz answers 200 (about 3 s).
 * `name` is a label: a random suffix keeps concurrent test files apart.
 */
export async function startKubeApiServer(name: string): Promise<KubeApiServer> {
  await buildKubeApiServer();
  const label = name.replace(/[^a-zA-Z0-9_.-]/g, '-').replace(/^[^a-zA-Z0-9]+/, '') || 'k8s';
  const unique = `${label}-${randomBytes(3).toString('hex')}`;
  const up = path.join(scriptsDir, 'k8s-up.sh');
  // --owner-pid: the script's watchdog stops the pair if this process dies without stopping it
  // (a killed test worker runs no exit handler).
  const r = await run(up, ['--json', '--owner-pid', String(process.pid), unique], { timeoutMs: 120_000 });
  if (r.code !== 0) {
    throw new Error(`scripts/k8s-up.sh ${unique} failed (exit ${r.code}):\n${r.stderr.slice(-4000)}`);
  }
  const state = JSON.parse(r.stdout.trim()) as UpState;
  installExitHook();
  live.set(unique, state);

  let stopping: Promise<void> | undefined;
  return {
    name: unique,
    kubeconfigPath: state.kubeconfig,
    server: state.server,
    token: state.token,
    dir: state.dir,
    stop() {
      stopping ??= run(up, ['--down', unique], { timeoutMs: 60_000 }).then((d) => {
        live.delete(unique);
        if (d.code !== 0) throw new Error(`scripts/k8s-up.sh --down ${unique} failed:\n${d.stderr}`);
      });
      return stopping;
    },
  };
}
