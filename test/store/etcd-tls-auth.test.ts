// The etcd store over TLS with a client certificate and etcd's user/password auth, on a real etcd
// member on loopback: the --etcd-ca-file/--etcd-cert-file/--etcd-key-file/--etcd-username/
// --etcd-password-file options, and the errors when the credentials are wrong.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectEtcd } from '../../src/store/etcd-client.js';
import { openEtcdStore } from '../../src/store/etcd-store.js';
import { type EtcdCluster, startEtcdCluster } from '../support/etcd-cluster.js';

let etcd: EtcdCluster;
let passwordFile: string;
let wrongPasswordFile: string;

beforeAll(async () => {
  etcd = await startEtcdCluster({ members: 1, tls: true });
  const tls = etcd.tls!;
  passwordFile = path.join(etcd.dir, 'password');
  wrongPasswordFile = path.join(etcd.dir, 'wrong-password');
  writeFileSync(passwordFile, 'meshpeer-secret\n', { mode: 0o600 });
  writeFileSync(wrongPasswordFile, 'not-it\n', { mode: 0o600 });
  // Turn on etcd auth: a root user, and a meshpeer user allowed only its prefix.
  const admin = connectEtcd({
    endpoints: etcd.endpoints,
    caFile: tls.ca,
    certFile: tls.cert,
    keyFile: tls.key,
  });
  try {
    await admin.auth.userAdd({ name: 'root', password: 'root-secret' });
    await admin.auth.userGrantRole({ user: 'root', role: 'root' });
    await admin.auth.roleAdd({ name: 'meshpeer' });
    await admin.auth.roleGrantPermission({
      name: 'meshpeer',
      perm: { permType: 'Readwrite', key: Buffer.from('/meshpeer/'), range_end: Buffer.from('/meshpeer0') },
    });
    await admin.auth.userAdd({ name: 'meshpeer', password: 'meshpeer-secret' });
    await admin.auth.userGrantRole({ user: 'meshpeer', role: 'meshpeer' });
    await admin.auth.authEnable();
  } finally {
    admin.close();
  }
});

afterAll(async () => {
  await etcd?.stop();
});

describe('etcd store with TLS and auth', () => {
  it('writes and reads through a client certificate and a password file', async () => {
    const tls = etcd.tls!;
    const options = {
      endpoints: etcd.endpoints,
      caFile: tls.ca,
      certFile: tls.cert,
      keyFile: tls.key,
      username: 'meshpeer',
      passwordFile,
    };
    const a = await openEtcdStore({ client: connectEtcd(options), prefix: '/meshpeer/dc1/' });
    const b = await openEtcdStore({ client: connectEtcd(options), prefix: '/meshpeer/dc1/' });
    try {
      const w = await a.write((tx) => tx.put('t', 'k', { secret: false }));
      for (let i = 0; i < 6 && b.tableIndex('t') < w.index; i++) {
        await b.waitForChange(['t'], b.maxIndex(['t']), 5_000);
      }
      expect(b.get('t', 'k')).toEqual(a.get('t', 'k'));
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('fails to open with a clear error on a wrong password, outside the granted prefix, or without a CA', async () => {
    const tls = etcd.tls!;
    const base = { endpoints: etcd.endpoints, caFile: tls.ca, certFile: tls.cert, keyFile: tls.key };
    const open = (opts: Parameters<typeof connectEtcd>[0], prefix = '/meshpeer/dc1/') =>
      openEtcdStore({
        client: connectEtcd(opts),
        prefix,
        requestTimeoutMs: 3_000,
        description: 'etcd (tls)',
      }).then(
        async (s) => {
          await s.close();
          return 'opened';
        },
        (err: Error) => err.message,
      );
    expect(await open({ ...base, username: 'meshpeer', passwordFile: wrongPasswordFile })).toMatch(
      /^etcd \(tls\) did not answer a read: .*authentication failed/i,
    );
    expect(await open({ ...base, username: 'meshpeer', passwordFile }, '/elsewhere/')).toMatch(
      /^etcd \(tls\) did not answer a read: .*permission denied/i,
    );
    // Without --etcd-ca-file the system roots do not know the test CA.
    expect(await open({ endpoints: etcd.endpoints, certFile: tls.cert, keyFile: tls.key })).toMatch(
      /^etcd \(tls\) did not answer a read: /,
    );
  });
});
