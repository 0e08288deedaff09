import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, CLI, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';

let server: ServerProcess;
let dir: string;

function meshpeer(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, MESHPEER_HTTP_ADDR: server.url, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  server = await startServerProcess({ datacenter: 'cli-dc' });
  dir = mkdtempSync(join(tmpdir(), 'meshpeer-cli-'));
});

afterAll(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('meshpeer CLI against a real server', () => {
  it('registers a service from an HCL file, lists it, and deregisters it', async () => {
    const file = join(dir, 'web.hcl');
    writeFileSync(file, 'service {\n  name = "web"\n  id = "web-1"\n  port = 8080\n  tags = ["blue"]\n}\n');
    const reg = await meshpeer(['services', 'register', file]);
    expect(reg.code, reg.stderr).toBe(0);
    const list = await meshpeer(['catalog', 'services', '--tags']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/web\s+blue/);
    const health = await api<Array<{ Service: { ID: string; Port: number } }>>(
      `${server.url}/v1/health/service/web`,
    );
    expect(health.body.map((h) => [h.Service.ID, h.Service.Port])).toEqual([['web-1', 8080]]);
    const dereg = await meshpeer(['services', 'deregister', '-id', 'web-1']);
    expect(dereg.code, dereg.stderr).toBe(0);
    expect((await api<unknown[]>(`${server.url}/v1/health/service/web`)).body).toEqual([]);
  });

  it('writes, reads, lists and deletes a config entry, with check-and-set', async () => {
    const file = join(dir, 'exported.hcl');
    writeFileSync(
      file,
      'Kind = "exported-services"\nName = "default"\nServices = [{ Name = "web", Consumers = [{ Peer = "cluster-02" }] }]\n',
    );
    const w = await meshpeer(['config', 'write', file]);
    expect(w.code, w.stderr).toBe(0);
    const r = await meshpeer(['config', 'read', '-kind', 'exported-services', '-name', 'default']);
    expect(r.code).toBe(0);
    const entry = JSON.parse(r.stdout) as {
      Services: Array<{ Consumers: Array<{ Peer: string }> }>;
      ModifyIndex: number;
    };
    expect(entry.Services[0]?.Consumers[0]?.Peer).toBe('cluster-02');
    const stale = await meshpeer([
      'config',
      'write',
      '-cas',
      '-modify-index',
      String(entry.ModifyIndex - 1),
      file,
    ]);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(/not updated/);
    const l = await meshpeer(['config', 'list', '-kind', 'exported-services']);
    expect(l.stdout.trim()).toBe('default');
    const d = await meshpeer(['config', 'delete', '-kind', 'exported-services', '-name', 'default']);
    expect(d.code, d.stderr).toBe(0);
    expect((await api(`${server.url}/v1/config/exported-services/default`)).status).toBe(404);
  });

  it('shows the server’s validation message for an invalid entry and exits 1', async () => {
    const file = join(dir, 'bad.json');
    writeFileSync(
      file,
      JSON.stringify({ Kind: 'proxy-defaults', Name: 'global', MeshGateway: { Mode: 'sideways' } }),
    );
    const w = await meshpeer(['config', 'write', file]);
    expect(w.code).toBe(1);
    expect(w.stderr).toMatch(/MeshGateway\.Mode/);
    expect(w.stderr).toMatch(/HTTP 400/);
  });

  it('says the server is unreachable and how to point elsewhere', async () => {
    const r = await meshpeer(['catalog', 'services'], { MESHPEER_HTTP_ADDR: 'http://127.0.0.1:1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot reach the meshpeer server at http:\/\/127\.0\.0\.1:1/);
    expect(r.stderr).toMatch(/MESHPEER_HTTP_ADDR/);
  });

  it('explains every command with --help', async () => {
    for (const cmd of [
      ['server'],
      ['demo'],
      ['peering', 'establish'],
      ['config', 'write'],
      ['catalog', 'services'],
    ]) {
      const r = await meshpeer([...cmd, '--help']);
      expect(r.code, cmd.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/Usage: meshpeer/);
    }
  });
});
