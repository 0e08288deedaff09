import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connectEtcd } from './etcd-client.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('connectEtcd', () => {
  it('refuses TLS files with http endpoints, half a client key pair, and half the credentials', () => {
    const http = ['http://127.0.0.1:2379'];
    const https = ['https://127.0.0.1:2379'];
    expect(() => connectEtcd({ endpoints: http, caFile: '/ca.pem' })).toThrow('need https:// etcd endpoints');
    expect(() => connectEtcd({ endpoints: https, certFile: '/c.pem' })).toThrow('go together');
    expect(() => connectEtcd({ endpoints: http, username: 'root' })).toThrow(
      '--etcd-username and --etcd-password-file go together',
    );
  });

  it('names an unreadable file and an empty password file', () => {
    const d = mkdtempSync(join(tmpdir(), 'meshpeer-etcd-client-'));
    dirs.push(d);
    expect(() =>
      connectEtcd({ endpoints: ['https://127.0.0.1:2379'], caFile: join(d, 'missing.pem') }),
    ).toThrow(`--etcd-ca-file ${join(d, 'missing.pem')}: cannot read it (ENOENT)`);
    writeFileSync(join(d, 'empty'), '\n');
    expect(() =>
      connectEtcd({ endpoints: ['http://127.0.0.1:2379'], username: 'u', passwordFile: join(d, 'empty') }),
    ).toThrow('is empty');
  });
});
