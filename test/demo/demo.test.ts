import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CLI } from '../support/meshpeer-process.js';

function runCli(
  args: string[],
  timeoutMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('meshpeer demo', () => {
  it('peers two clusters, shows cluster-01’s exported backend in cluster-02 and calls it through both gateways', async () => {
    const r = await runCli(['demo', '--once'], 60_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/peering ACTIVE after \d+ ms/);
    expect(r.stdout).toMatch(
      /cluster-02 sees, imported from peer cluster-01:\n\s+backend backend-1 .*PeerName cluster-01, passing/,
    );
    expect(r.stdout).toMatch(/cluster-01 -> cluster-02: ACTIVE; exports \[backend\]/);
    expect(r.stdout).toMatch(/cluster-02 -> cluster-01: ACTIVE; exports \[\], imports \[backend\]/);
    // The request really crossed: answered by cluster-01's backend, through both gateways.
    expect(r.stdout).toContain('answer: hello from backend in cluster-01 (you asked for /hello)');
    expect(r.stdout).toMatch(/cluster-01 gateway forwarded: inbound=[1-9]/);
    expect(r.stdout).toMatch(/cluster-02 gateway forwarded: outbound=[1-9]/);
    // The failover act: local backend first, cluster-01's once the local check is critical, then home.
    expect(r.stdout).toMatch(
      /local upstream [\d.:]+\): hello from backend in cluster-02[\s\S]*check set critical\n {2}\d+ ms later: hello from backend in cluster-01[\s\S]*check passing again\n {2}\d+ ms later: hello from backend in cluster-02/,
    );
    expect(r.stdout).toContain('demo verified');
  });

  it('stops both clusters on SIGINT and exits cleanly', async () => {
    const child = spawn(process.execPath, [CLI, 'demo'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
      child.on('exit', (code, signal) => r({ code, signal })),
    );
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`demo did not start:\n${out}\n${err}`)), 30_000);
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('Ctrl-C stops both clusters')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    child.kill('SIGINT');
    const result = await exited;
    expect(result, `stdout:\n${out}\nstderr:\n${err}`).toEqual({ code: 0, signal: null });
    expect(out).toContain('stopping');
  });
});
