// Another user on the server's machine: the data dir (CA private keys, ACL and peering secrets) is
// created 0700 with 0600 files, a dir others can access is refused unless --allow-insecure-data-dir,
// and the management token can be given without putting it on the command line (`ps`).
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { api, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';
import { auth } from './support.js';

const roots: string[] = [];
const running: ServerProcess[] = [];

function tempRoot(): string {
  const d = mkdtempSync(join(tmpdir(), 'meshpeer-local-user-'));
  roots.push(d);
  return d;
}

afterAll(async () => {
  for (const s of running) await s.stop();
  for (const d of roots) rmSync(d, { recursive: true, force: true });
});

async function start(opts: Parameters<typeof startServerProcess>[0]): Promise<ServerProcess> {
  const s = await startServerProcess(opts);
  running.push(s);
  return s;
}

const mode = (path: string): string => `0${(statSync(path).mode & 0o777).toString(8)}`;

describe('item 6: the data dir', () => {
  it('is created 0700, and the state files 0600', async () => {
    const dir = join(tempRoot(), 'nested', 'data');
    const s = await start({ datacenter: 'dc-perm', dataDir: dir });
    const reg = await api(`${s.url}/v1/agent/service/register`, { json: { Name: 'web', Port: 80 } });
    expect(reg.status).toBe(200);
    expect(mode(dir)).toBe('0700');
    expect(mode(join(dir, '..'))).toBe('0700');
    for (const f of ['state.db', 'state.db-wal', 'state.db-shm']) {
      expect(existsSync(join(dir, f)), f).toBe(true);
      expect(mode(join(dir, f)), f).toBe('0600');
    }
    await s.stop();
  }, 180_000);

  it('refuses to start on a dir other users can read, saying what to do, and writes nothing there', async () => {
    const dir = join(tempRoot(), 'open');
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    await expect(startServerProcess({ datacenter: 'dc-perm', dataDir: dir })).rejects.toThrow(
      /data dir .*open has mode 0755: other users can access it.*chmod 700 .*--allow-insecure-data-dir/s,
    );
    expect(existsSync(join(dir, 'state.db'))).toBe(false);
    chmodSync(dir, 0o750);
    await expect(startServerProcess({ datacenter: 'dc-perm', dataDir: dir })).rejects.toThrow(/mode 0750/);
  }, 180_000);

  it('starts on such a dir with --allow-insecure-data-dir, with a warning, still writing 0600 files', async () => {
    const dir = join(tempRoot(), 'open-anyway');
    mkdirSync(dir);
    chmodSync(dir, 0o755);
    const s = await start({ datacenter: 'dc-perm', dataDir: dir, extraArgs: ['--allow-insecure-data-dir'] });
    expect(s.logs.join('\n')).toMatch(/other users can access it.*starting anyway/);
    expect(mode(join(dir, 'state.db'))).toBe('0600');
    await s.stop();
  }, 180_000);

  it('narrows state files an older version left 0644', async () => {
    const dir = join(tempRoot(), 'old');
    let s = await start({ datacenter: 'dc-perm', dataDir: dir });
    await api(`${s.url}/v1/agent/service/register`, { json: { Name: 'web', Port: 80 } });
    await s.stop();
    chmodSync(join(dir, 'state.db'), 0o644);
    s = await start({ datacenter: 'dc-perm', dataDir: dir });
    expect(mode(join(dir, 'state.db'))).toBe('0600');
    const services = await api<Record<string, unknown>>(`${s.url}/v1/catalog/services`);
    expect(services.body).toHaveProperty('web');
    await s.stop();
  }, 180_000);
});

describe('item 10: the initial management token off the command line', () => {
  const SECRET = 'c0ffee00-1111-4222-8333-944445555666';

  async function isManagement(url: string, secret: string): Promise<boolean> {
    return (await api(`${url}/v1/acl/policies`, { headers: auth(secret) })).status === 200;
  }

  const cmdline = (pid: number): string => readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');

  it('is read from --acl-initial-management-token-file (trailing newline trimmed), not visible in ps', async () => {
    const file = join(tempRoot(), 'mgmt-token');
    writeFileSync(file, `${SECRET}\n`, { mode: 0o600 });
    const s = await start({
      datacenter: 'dc-token',
      extraArgs: ['--acl-enabled', '--acl-initial-management-token-file', file],
    });
    expect(await isManagement(s.url, SECRET)).toBe(true);
    expect(cmdline(s.pid)).toContain('--acl-initial-management-token-file');
    expect(cmdline(s.pid)).not.toContain(SECRET);
    expect(s.logs.join('\n')).not.toContain(SECRET);
    await s.stop();
  }, 180_000);

  it('is read from MESHPEER_ACL_INITIAL_MANAGEMENT_TOKEN', async () => {
    const s = await start({
      datacenter: 'dc-token',
      extraArgs: ['--acl-enabled'],
      env: { MESHPEER_ACL_INITIAL_MANAGEMENT_TOKEN: SECRET },
    });
    expect(await isManagement(s.url, SECRET)).toBe(true);
    expect(cmdline(s.pid)).not.toContain(SECRET);
    await s.stop();
  }, 180_000);

  it('warns when given on the command line, and when the file is readable by others', async () => {
    const s = await start({
      datacenter: 'dc-token',
      extraArgs: ['--acl-enabled', '--acl-initial-management-token', SECRET],
    });
    expect(s.logs.join('\n')).toContain('every local user can read it (ps)');
    await s.stop();
    const file = join(tempRoot(), 'open-token');
    writeFileSync(file, SECRET);
    chmodSync(file, 0o644);
    const t = await start({
      datacenter: 'dc-token',
      extraArgs: ['--acl-enabled', '--acl-initial-management-token-file', file],
    });
    expect(t.logs.join('\n')).toContain('can be read by other users; chmod 600 it');
    await t.stop();
  }, 180_000);

  it('refuses a missing or empty file, and the token given twice', async () => {
    const root = tempRoot();
    const empty = join(root, 'empty');
    writeFileSync(empty, '\n', { mode: 0o600 });
    const cases: Array<[string[], RegExp]> = [
      [['--acl-initial-management-token-file', join(root, 'missing')], /cannot read it \(ENOENT\)/],
      [['--acl-initial-management-token-file', empty], /is empty/],
      [
        ['--acl-initial-management-token-file', empty, '--acl-initial-management-token', SECRET],
        /give the management token once/,
      ],
    ];
    for (const [args, message] of cases) {
      await expect(
        startServerProcess({ datacenter: 'dc-token', extraArgs: ['--acl-enabled', ...args] }),
      ).rejects.toThrow(message);
    }
  }, 180_000);
});
