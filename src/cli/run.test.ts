import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closedPort, type FakeApi, runCli, startFakeApi } from './testing/harness.js';

let api: FakeApi;
beforeEach(async () => {
  api = await startFakeApi();
});
afterEach(async () => {
  await api.close();
});

describe('when the server cannot be reached', () => {
  it('says where it looked, why, and how to point elsewhere (exit 1)', async () => {
    const port = await closedPort();
    const result = await runCli(undefined, ['peering', 'list'], {
      env: { MESHPEER_HTTP_ADDR: `127.0.0.1:${port}` },
    });
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr:
        `error: cannot reach the meshpeer server at http://127.0.0.1:${port} (connection refused): ` +
        'is `meshpeer server` running? set MESHPEER_HTTP_ADDR to point elsewhere\n',
    });
  });

  it('is not prefixed with what the command was doing', async () => {
    const port = await closedPort();
    const result = await runCli(undefined, [
      'peering',
      'read',
      '--name',
      'x',
      '--http-addr',
      `http://127.0.0.1:${port}`,
    ]);
    expect(result.stderr).toMatch(/^error: cannot reach the meshpeer server at /);
  });
});

describe('errors from the server', () => {
  it('adds a hint about the token to a 403 when none was sent', async () => {
    api.on('GET', '/v1/peerings', { status: 403, text: 'Permission denied: token lacks peering:read' });
    const result = await runCli(api, ['peering', 'list']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'error: listing peerings failed: Permission denied: token lacks peering:read (HTTP 403 Forbidden from GET /v1/peerings); ' +
        'no ACL token was sent: set MESHPEER_HTTP_TOKEN or pass --token\n',
    );
  });

  it('reduces a JSON error object to its message', async () => {
    api.on('GET', '/v1/peerings', {
      status: 500,
      body: { statusCode: 500, error: 'Internal Server Error', message: 'store is closed' },
    });
    const result = await runCli(api, ['peering', 'list']);
    expect(result.stderr).toBe(
      'error: listing peerings failed: store is closed (HTTP 500 Internal Server Error from GET /v1/peerings)\n',
    );
  });

  it('says when the answer is not JSON, i.e. probably not a meshpeer server', async () => {
    api.on('GET', '/v1/peerings', { text: '<html>hello</html>' });
    const result = await runCli(api, ['peering', 'list']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('answered GET /v1/peerings with a body that is not JSON');
  });

  it('names the field when the answer has the wrong shape', async () => {
    api.on('GET', '/v1/peering/x', { body: { Name: 42 } });
    const result = await runCli(api, ['peering', 'read', '--name', 'x']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('unexpected answer from the server to GET /v1/peering/x: Name:');
  });
});

describe('usage and exit codes', () => {
  it('exits 0 with --help and shows an example', async () => {
    const result = await runCli(api, ['peering', 'generate-token', '-help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Usage: meshpeer peering generate-token [options]');
    expect(result.stdout).toContain('$ TOKEN=$(meshpeer peering generate-token --name cluster-02)');
    expect(api.requests).toHaveLength(0);
  });

  it('gives every command a help text with an example', async () => {
    const commands = [
      ['catalog', 'services'],
      ['catalog', 'nodes'],
      ['services', 'register'],
      ['services', 'deregister'],
      ['config', 'write'],
      ['config', 'read'],
      ['config', 'list'],
      ['config', 'delete'],
      ['peering', 'generate-token'],
      ['peering', 'establish'],
      ['peering', 'list'],
      ['peering', 'read'],
      ['peering', 'delete'],
    ];
    for (const command of commands) {
      const result = await runCli(api, [...command, '--help']);
      expect(result.code, command.join(' ')).toBe(0);
      expect(result.stdout, command.join(' ')).toMatch(/Examples?:\n[\s\S]*\$ .*meshpeer /);
    }
  });

  it('exits 2 for an unknown command, an unknown flag, or a missing required flag', async () => {
    const unknownCommand = await runCli(api, ['peerings']);
    const unknownFlag = await runCli(api, ['peering', 'list', '--bogus']);
    const missing = await runCli(api, ['peering', 'read']);
    expect(unknownCommand.code).toBe(2);
    expect(unknownCommand.stderr).toContain("unknown command 'peerings'");
    expect(unknownFlag.code).toBe(2);
    expect(unknownFlag.stderr).toContain("unknown option '--bogus'");
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("required option '--name <name>' not specified");
    expect(api.requests).toHaveLength(0);
  });

  it('exits 0 for `help <command>`, and 2 for a command group without a subcommand', async () => {
    const help = await runCli(api, ['help', 'peering']);
    const bare = await runCli(api, ['peering']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: meshpeer peering [options] [command]');
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('Usage: meshpeer peering [options] [command]');
  });

  it('exits 2 with the usage when run without a command', async () => {
    const result = await runCli(api, []);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Usage: meshpeer [options] [command]');
  });

  it('exits 2 for an --http-addr that is not an address', async () => {
    const result = await runCli(api, ['peering', 'list', '--http-addr', 'ftp://x:1']);
    expect(result).toMatchObject({
      code: 2,
      stderr: 'error: invalid HTTP address "ftp://x:1": only http:// and https:// are supported\n',
    });
  });

  it('prints the package version', async () => {
    const result = await runCli(api, ['-version']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('token file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshpeer-cli-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the token from --token-file, trimmed', async () => {
    const path = join(dir, 'token');
    await writeFile(path, 'secret-token\n');
    api.on('GET', '/v1/peerings', { body: [] });
    await runCli(api, ['peering', 'list', '-token-file', path]);
    expect(api.requests[0]?.headers['x-consul-token']).toBe('secret-token');
  });
});
