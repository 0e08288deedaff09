// The README's way to copy a peering token Secret from the accepting cluster to the dialing one, run on
// two real kube-apiservers, again after the token is regenerated: it works every time, where the doc's
// `kubectl get secret -o yaml | kubectl apply -f -` fails from the second copy on (the YAML carries the
// source cluster's resourceVersion and uid: a Conflict, or an invalid update).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KubeApiServer, kubectlOk, run, startKubeApiServer } from '../support/kube-apiserver.js';

let acceptorSide: KubeApiServer | undefined;
let dialerSide: KubeApiServer | undefined;

/** The README's two commands, with --kubeconfig standing for --context. */
function readmeCopy(): Promise<{ code: number; stdout: string; stderr: string }> {
  const a = `--kubeconfig ${acceptorSide?.kubeconfigPath}`;
  const b = `--kubeconfig ${dialerSide?.kubeconfigPath}`;
  const script = `set -euo pipefail
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT; cd "$dir"
kubectl ${a} get secret peering-token -o jsonpath='{.data.data}' | base64 -d > peering-token
kubectl ${b} create secret generic peering-token --from-file=data=peering-token \\
  --dry-run=client -o yaml | kubectl ${b} apply -f -`;
  return run('bash', ['-c', script]);
}

function docCopy(): Promise<{ code: number; stdout: string; stderr: string }> {
  return run('bash', [
    '-c',
    `set -o pipefail; kubectl --kubeconfig ${acceptorSide?.kubeconfigPath} get secret peering-token -o yaml | ` +
      `kubectl --kubeconfig ${dialerSide?.kubeconfigPath} apply -f -`,
  ]);
}

/** Writes the token as the acceptor's controller does (its own Secret, key "data"). */
async function generate(token: string): Promise<void> {
  const yaml = await kubectlOk(acceptorSide?.kubeconfigPath ?? '', [
    'create',
    'secret',
    'generic',
    'peering-token',
    `--from-literal=data=${token}`,
    '--dry-run=client',
    '-o',
    'yaml',
  ]);
  await kubectlOk(acceptorSide?.kubeconfigPath ?? '', ['apply', '-f', '-'], yaml);
}

async function dialerToken(): Promise<string> {
  const b64 = await kubectlOk(dialerSide?.kubeconfigPath ?? '', [
    'get',
    'secret',
    'peering-token',
    '-o',
    'jsonpath={.data.data}',
  ]);
  return Buffer.from(b64, 'base64').toString('utf8');
}

beforeAll(async () => {
  [acceptorSide, dialerSide] = await Promise.all([
    startKubeApiServer('copy-a'),
    startKubeApiServer('copy-b'),
  ]);
}, 40 * 60_000);

afterAll(async () => {
  await Promise.all([acceptorSide?.stop(), dialerSide?.stop()]);
});

describe('copying the peering token Secret between clusters', () => {
  it('copies the first token', async () => {
    await generate('token-one');
    const r = await readmeCopy();
    expect(r.code, r.stderr).toBe(0);
    expect(await dialerToken()).toBe('token-one');
  });

  it('copies a regenerated token over the old copy, where the doc recipe fails', async () => {
    await generate('token-two');
    const doc = await docCopy();
    expect(doc.code).not.toBe(0);
    // A Conflict, or "is invalid" when the source's uid reaches the update: either way, no copy.
    expect(doc.stderr).toMatch(
      /conflict|the object has been modified|Operation cannot be fulfilled|is invalid/i,
    );
    console.log(`the doc's recipe on a re-copy: ${doc.stderr.trim()}`);

    const r = await readmeCopy();
    expect(r.code, r.stderr).toBe(0);
    expect(await dialerToken()).toBe('token-two');
    await generate('token-three');
    expect((await readmeCopy()).code).toBe(0);
    expect(await dialerToken()).toBe('token-three');
  });
});
