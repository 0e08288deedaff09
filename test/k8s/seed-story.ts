// Support for the seed's story with pods (seed-story-pods.test.ts): one "installed" cluster = a workload
// control plane from scripts/k8s-up.sh whose kwok pods get loopback IPs, plus the meshpeer server,
// controller and mesh gateway started as local processes from the command lines `helm template`
// renders, with the rendered Secrets written where the pods would mount them and every in-cluster
// address replaced by its loopback counterpart.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Container, commandOf, find, type K8sObject } from '../helm/support.js';
import { repoRoot } from '../support/kube-apiserver.js';
import { CLI } from '../support/meshpeer-process.js';

/** A local `meshpeer` process: its output so far, and a stop that waits for the exit. */
export interface MeshpeerProcess {
  pid: number;
  output(): string;
  /** Resolves once the output matches (rejects if the process exits first or after `ms`). */
  waitFor(pattern: RegExp, ms?: number): Promise<RegExpExecArray>;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
});

/** Runs `node dist/src/cli/main.js <args>` (a container's `meshpeer ...` command line) with `env`. */
export function startMeshpeer(args: string[], env: Record<string, string>): MeshpeerProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: repoRoot,
    env: { ...process.env, MESHPEER_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not start meshpeer ${args.join(' ')}`);
  live.add(child);
  let out = '';
  const onData = (d: Buffer): void => {
    out += d.toString();
    if (out.length > 400_000) out = out.slice(-200_000);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      live.delete(child);
      resolve();
    }),
  );
  const pid = child.pid;
  return {
    pid,
    output: () => out,
    async waitFor(pattern, ms = 90_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const m = pattern.exec(out);
        if (m) return m;
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`meshpeer ${args[0]} exited before ${pattern}:\n${out.slice(-4000)}`);
        }
        if (Date.now() > deadline)
          throw new Error(`meshpeer ${args[0]}: no ${pattern} within ${ms} ms:\n${out.slice(-4000)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(pid, 'SIGTERM');
        const timer = setTimeout(() => {
          if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
        }, 15_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

/**
 * A container's command line without its leading `meshpeer`, with `$(VAR)` expanded from `vars` and
 * each argument equal to a key of `replace` replaced (in-cluster addresses and mounted paths).
 */
export function localCommand(
  container: Pick<Container, 'command' | 'args'>,
  replace: Record<string, string>,
  vars: Record<string, string> = {},
): string[] {
  const full = [...(container.command ?? []), ...(container.args ?? [])];
  if (full[0] !== 'meshpeer') throw new Error(`not a meshpeer command line: ${full.join(' ')}`);
  return full.slice(1).map((arg) => {
    const expanded = arg.replace(/\$\(([A-Z_]+)\)/g, (whole, name: string) => vars[name] ?? whole);
    return replace[expanded] ?? expanded;
  });
}

/** The rendered Secrets a pod mounts, written to a scratch directory as the volume would hold them. */
export class Mounts {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'meshpeer-seed-story-'));
  constructor(private readonly objects: K8sObject[]) {}

  /** Writes Secret `name`'s `key` under the scratch directory; returns the path. */
  secretFile(name: string, key: string): string {
    const data = find(this.objects, 'Secret', name).data?.[key];
    if (data === undefined) throw new Error(`Secret ${name} has no ${key}`);
    const dir = path.join(this.dir, name);
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, key);
    writeFileSync(file, Buffer.from(data, 'base64'), { mode: 0o600 });
    return file;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The rendered container of a Deployment or StatefulSet, its command line checked to start with `meshpeer`. */
export function renderedContainer(objects: K8sObject[], kind: string, name: string): Container {
  const w = find(objects, kind, name);
  const c = w.spec?.template?.spec.containers[0];
  if (!c || commandOf(w)[0] !== 'meshpeer') throw new Error(`${kind}/${name} does not run meshpeer`);
  return c;
}

export const readText = (file: string): string => readFileSync(file, 'utf8');
