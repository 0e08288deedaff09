// The real `helm` binary for tests: built by scripts/helm-build.sh on first use (minutes), then cached;
// each user gets a scratch directory of its own for values files and for helm's config, cache and data,
// so nothing touches the user's home. A run may name a kubeconfig (installs into a real API server).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const buildScript = resolve(import.meta.dirname, '..', '..', 'scripts', 'helm-build.sh');

export interface HelmResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface HelmCli {
  /** A directory of this user's, removed by cleanup(). */
  readonly scratch: string;
  run(args: string[], options?: { kubeconfig?: string; timeoutMs?: number }): HelmResult;
  cleanup(): void;
}

/** Builds helm if it is not cached yet and returns a runner with a fresh scratch directory. */
export function helmCli(scratchPrefix: string): HelmCli {
  const build = spawnSync('bash', [buildScript], { encoding: 'utf8', timeout: 20 * 60_000 });
  if (build.status !== 0) throw new Error(`scripts/helm-build.sh failed: ${build.stderr}`);
  const helm = build.stdout.trim().split('\n').at(-1) ?? '';
  const scratch = mkdtempSync(join(tmpdir(), scratchPrefix));
  const env = {
    ...process.env,
    HELM_CACHE_HOME: join(scratch, 'cache'),
    HELM_CONFIG_HOME: join(scratch, 'config'),
    HELM_DATA_HOME: join(scratch, 'data'),
  };
  return {
    scratch,
    run(args, options = {}) {
      const kube = options.kubeconfig === undefined ? [] : ['--kubeconfig', options.kubeconfig];
      const r = spawnSync(helm, [...args, ...kube], {
        encoding: 'utf8',
        env,
        timeout: options.timeoutMs ?? 120_000,
      });
      if (r.error) throw r.error;
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    },
    cleanup() {
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}
