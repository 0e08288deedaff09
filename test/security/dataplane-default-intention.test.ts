// Issue 9, item 7: a sidecar's default intention action follows Consul — the ACL default policy when
// the server has ACLs on, allow when off (dataplane-exports.test.ts) — a flag overrides it, and the
// sidecar logs which default is in force and why. Real `meshpeer server --acl-enabled` processes and
// real `meshpeer proxy` processes; callers are workloads of the same cluster with real leaves.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProxyLeaf } from '../../src/dataplane/proxy/index.js';
import { type EchoServer, startEchoServer } from '../../src/dataplane/testing/traffic.js';
import { tlsAttempt } from '../dataplane/helpers.js';
import { eventually } from '../support/meshpeer-process.js';
import {
  caOf,
  type DataplaneProcess,
  leafFrom,
  logRecords,
  sidecarRefusals,
  startDataplaneProcess,
} from './dataplane-processes.js';
import { type AclServer, MGMT, makeToken, put, startAclServer } from './support.js';

const stops: (() => Promise<unknown>)[] = [];
let deny: AclServer; // --acl-enabled, default policy deny (the default)
let allow: AclServer; // --acl-enabled --acl-default-policy allow
let app: EchoServer;
let roots: string[];
let webLeaf: ProxyLeaf;
const sidecars: Record<string, DataplaneProcess> = {};

/** A sidecar for `service` in front of the echo app; the token goes in through the environment. */
async function sidecar(server: AclServer, service: string, token: string, args: string[] = []) {
  const p = await startDataplaneProcess(
    'proxy',
    [
      '--server',
      server.url,
      '--service',
      service,
      '--listen',
      '127.0.0.1:0',
      '--app-port',
      String(app.address.port),
      ...args,
    ],
    { MESHPEER_HTTP_TOKEN: token },
  );
  stops.push(() => p.stop());
  sidecars[service] = p;
  return p;
}

const call = (service: string, leaf: ProxyLeaf, payload = 'hello') =>
  tlsAttempt((sidecars[service] as DataplaneProcess).address, {
    servername: service,
    ca: roots,
    leaf,
    payload,
  });

const defaultLog = (service: string) =>
  logRecords(sidecars[service] as DataplaneProcess, /^default intention action:/);

beforeAll(async () => {
  [deny, allow] = await Promise.all([
    startAclServer('dc1'),
    startAclServer('dc2', ['--acl-default-policy', 'allow']),
  ]);
  stops.push(
    () => deny.server.stop(),
    () => allow.server.stop(),
  );
  app = await startEchoServer();
  stops.push(() => app.close());
  roots = (await caOf(deny.url, MGMT)).rootPems;
  webLeaf = await leafFrom(deny.url, 'web', MGMT);
  // A token shaped like a sidecar's: its own service, reads of the rest, no node rights — so it may
  // not read /v1/agent/self.
  const narrow = await makeToken(
    deny.url,
    'narrow',
    'service "narrow" { policy = "write" }\nservice_prefix "" { policy = "read" }\nmesh = "read"',
  );
  await Promise.all([
    sidecar(deny, 'api', MGMT),
    sidecar(deny, 'open', MGMT, ['--default-intention', 'allow']),
    sidecar(deny, 'narrow', narrow.SecretID),
    sidecar(allow, 'lenient', MGMT),
  ]);
}, 180_000);

afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
});

describe('with ACLs on and default policy deny', () => {
  it('the sidecar denies a caller no intention matches, and logs why', async () => {
    expect(defaultLog('api')).toEqual([
      expect.objectContaining({
        defaultIntention: 'deny',
        why: 'ACLs are enabled on the server with default policy deny',
      }),
    ]);
    const refused = await sidecarRefusals(sidecars.api as DataplaneProcess, 'intention-deny');
    const reached = app.connections;
    expect((await call('api', webLeaf)).data).toBe('');
    expect(app.connections).toBe(reached);
    await eventually(
      async () => (await sidecarRefusals(sidecars.api as DataplaneProcess, 'intention-deny')) === refused + 1,
    );
  });

  it('an allow intention lets that caller in', async () => {
    await put(deny.url, '/v1/config', {
      Kind: 'service-intentions',
      Name: 'api',
      Sources: [{ Name: 'web', Action: 'allow' }],
    });
    await eventually(async () => (await call('api', webLeaf, 'allowed')).data === 'allowed', 20_000);
  });

  it('a sidecar whose token may not read the ACL configuration fails closed', async () => {
    expect(defaultLog('narrow')).toEqual([
      expect.objectContaining({ defaultIntention: 'deny', why: expect.stringMatching(/HTTP 403/) }),
    ]);
    const reached = app.connections;
    expect((await call('narrow', webLeaf)).data).toBe('');
    expect(app.connections).toBe(reached);
  });

  it('--default-intention allow overrides the server, and says so', async () => {
    expect(defaultLog('open')).toEqual([
      expect.objectContaining({ defaultIntention: 'allow', why: 'set by --default-intention' }),
    ]);
    expect((await call('open', webLeaf, 'flag')).data).toBe('flag');
  });
});

describe('with ACLs on and default policy allow', () => {
  it('the sidecar allows by default, and logs why', async () => {
    expect(defaultLog('lenient')).toEqual([
      expect.objectContaining({
        defaultIntention: 'allow',
        why: 'ACLs are enabled on the server with default policy allow',
      }),
    ]);
    const leaf = await leafFrom(allow.url, 'web', MGMT);
    const ca = (await caOf(allow.url, MGMT)).rootPems;
    const attempt = await tlsAttempt((sidecars.lenient as DataplaneProcess).address, {
      servername: 'lenient',
      ca,
      leaf,
      payload: 'lenient',
    });
    expect(attempt.data).toBe('lenient');
  });
});
