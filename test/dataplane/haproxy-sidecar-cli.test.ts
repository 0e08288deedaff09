// `meshpeer proxy --engine haproxy` as processes (from dist/, built by `npm test`) between two real
// servers: configuration and leaves from the server's HTTP API, registration as the connect-proxy, a
// local upstream and a peered one through real gateways, an intention refusal, SIGTERM; and the
// command's refusals (no HAProxy binary, an unknown engine).
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EchoServer, startEchoServer } from '../../src/dataplane/testing/traffic.js';
import {
  type DataplaneProcess,
  freePort,
  logRecords,
  sidecarRefusals,
  startDataplaneProcess,
} from '../security/dataplane-processes.js';
import { api, CLI, eventually, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';
import { tlsAttempt } from './helpers.js';
import { echoed, liveConnection } from './live-connection.js';

// `meshpeer proxy --engine haproxy` as a process (from dist/, built by `npm test`), against real servers:
// configuration and leaves from the server's HTTP API, registration, peering, SIGTERM.
describe('meshpeer proxy --engine haproxy, as a process between real servers', () => {
  const stops: (() => Promise<unknown>)[] = [];
  const apps: Record<string, EchoServer> = {};
  let c1: ServerProcess;
  let c2: ServerProcess;
  let backendProc: DataplaneProcess;
  let webPort: number;
  let frontendPort: number;

  const call = async (url: string, method: string, path: string, json?: unknown): Promise<unknown> => {
    const res = await api(`${url}${path}`, { method, ...(json === undefined ? {} : { json }) });
    expect(res.status, `${method} ${path}: ${res.text}`).toBe(200);
    return res.body;
  };
  const proxy = (server: ServerProcess, args: string[]) =>
    startDataplaneProcess('proxy', ['--engine', 'haproxy', '--server', server.url, ...args]).then((p) => {
      stops.push(() => p.stop());
      return p;
    });

  beforeAll(async () => {
    [c1, c2] = (await Promise.all(
      ['dc1', 'dc2'].map((datacenter) => startServerProcess({ datacenter })),
    )) as [ServerProcess, ServerProcess];
    stops.push(
      () => c1.stop(),
      () => c2.stop(),
    );
    for (const name of ['backend', 'web', 'frontend']) {
      apps[name] = await startEchoServer();
      stops.push(() => (apps[name] as EchoServer).close());
    }
    await call(c1.url, 'PUT', '/v1/agent/service/register', {
      Name: 'backend',
      Address: '127.0.0.1',
      Port: (apps.backend as EchoServer).address.port,
    });
    await call(c1.url, 'PUT', '/v1/config', {
      Kind: 'exported-services',
      Name: 'default',
      Services: [{ Name: 'backend', Consumers: [{ Peer: 'cluster-02' }] }],
    });
    const { PeeringToken } = (await call(c1.url, 'POST', '/v1/peering/token', {
      PeerName: 'cluster-02',
    })) as {
      PeeringToken: string;
    };
    await call(c2.url, 'POST', '/v1/peering/establish', { PeerName: 'cluster-01', PeeringToken });

    webPort = await freePort();
    frontendPort = await freePort();
    const started = await Promise.all([
      proxy(c1, [
        '--service',
        'backend',
        '--listen',
        '127.0.0.1:0',
        '--app-port',
        String((apps.backend as EchoServer).address.port),
        '--register',
        '--drain-seconds',
        '30',
      ]),
      proxy(c1, [
        '--service',
        'web',
        '--listen',
        '127.0.0.1:0',
        '--app-port',
        String((apps.web as EchoServer).address.port),
        '--upstream',
        `backend:${webPort}`,
      ]),
      proxy(c2, [
        '--service',
        'frontend',
        '--listen',
        '127.0.0.1:0',
        '--app-port',
        String((apps.frontend as EchoServer).address.port),
        '--upstream',
        `backend:peer=cluster-01:${frontendPort}`,
      ]),
      ...[c1, c2].map((server, i) =>
        startDataplaneProcess('gateway', [
          ...(i === 0 ? ['--engine', 'haproxy'] : []),
          '--server',
          server.url,
          '--listen',
          '127.0.0.1:0',
          '--register',
        ]).then((p) => {
          stops.push(() => p.stop());
          return p;
        }),
      ),
    ]);
    backendProc = started[0];
  }, 120_000);

  afterAll(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  });

  it('registers as the connect-proxy of its service and carries a local upstream', async () => {
    const proxies = (await call(c1.url, 'GET', '/v1/health/connect/backend')) as {
      Service: { Kind: string; Port: number; Proxy: { DestinationServiceName: string } };
    }[];
    expect(
      proxies.map((p) => [p.Service.Kind, p.Service.Proxy.DestinationServiceName, p.Service.Port]),
    ).toEqual([['connect-proxy', 'backend', backendProc.address.port]]);
    expect(logRecords(backendProc, /^haproxy started$/)).toHaveLength(1);
    const upstream = { host: '127.0.0.1', port: webPort };
    await eventually(async () => (await echoed(upstream, 'via web')) === 'via web', 30_000);
  });

  it('carries a peered upstream to the exporter, whose leaf names the peered SNI', async () => {
    const upstream = { host: '127.0.0.1', port: frontendPort };
    await eventually(async () => (await echoed(upstream, 'from dc2')) === 'from dc2', 60_000);
  });

  it('refuses a caller an intention denies, saying why', async () => {
    await call(c1.url, 'PUT', '/v1/config', {
      Kind: 'service-intentions',
      Name: 'backend',
      Sources: [{ Name: 'web', Action: 'deny' }],
    });
    const upstream = { host: '127.0.0.1', port: webPort };
    await eventually(async () => (await echoed(upstream, 'denied?')) === '', 30_000);
    await eventually(async () => (await sidecarRefusals(backendProc, 'intention-deny')) >= 1, 10_000);
    expect(
      logRecords(backendProc, /^refused inbound connection: intention web → backend says deny$/),
    ).not.toEqual([]);
    // Still open to the peer's frontend.
    expect(await echoed({ host: '127.0.0.1', port: frontendPort }, 'peer ok')).toBe('peer ok');
    // The reload that applied it is not reported as a warning.
    expect(backendProc.logs.filter((l) => /"level":(40|50).*stopped \(cumulated conns/.test(l))).toEqual([]);
    await call(c1.url, 'DELETE', '/v1/config/service-intentions/backend');
    await eventually(async () => (await echoed(upstream, 'allowed')) === 'allowed', 30_000);
  });

  it('drains on SIGTERM: live connections go on, new ones are refused, then it exits', async () => {
    const live = await liveConnection({ host: '127.0.0.1', port: webPort });
    expect(await live.say('before')).toBe('before');
    const exited = new Promise<number | null>((resolve) =>
      backendProc.child.once('exit', (code) => resolve(code)),
    );
    backendProc.child.kill('SIGTERM');
    await eventually(
      async () => logRecords(backendProc, /^sidecar \(haproxy\) draining$/).length === 1,
      10_000,
    );
    expect(await live.say('during the drain')).toBe('during the drain');
    // HAProxy closes its listener once the signal reaches it: from then on, nothing connects.
    await eventually(async () => {
      const attempt = await tlsAttempt(backendProc.address, {
        servername: 'backend',
        ca: [],
        payload: 'new',
      });
      return attempt.data === '' && /ECONNREFUSED/.test(attempt.error ?? '');
    }, 10_000);
    expect(await live.say('still draining')).toBe('still draining');
    await live.close();
    expect(await exited).toBe(0);
  });
});

describe('meshpeer proxy --engine', () => {
  const run = (args: string[], env: Record<string, string> = {}) =>
    new Promise<{ failed: boolean; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [CLI, 'proxy', ...args],
        { env: { ...process.env, ...env } },
        (err, _out, stderr) => resolve({ failed: err !== null, stderr }),
      );
    });

  it('fails at start without an HAProxy binary, saying how to install one', async () => {
    // No server answers here: the binary is looked for before anything else.
    const { failed, stderr } = await run(
      ['--engine', 'haproxy', '--server', 'http://127.0.0.1:1', '--service', 'web'],
      { MESHPEER_HAPROXY: '/nonexistent/haproxy' },
    );
    expect(failed).toBe(true);
    expect(stderr).toMatch(
      /haproxy binary \/nonexistent\/haproxy is not an executable file: .*apt-get install haproxy/,
    );
  });

  it('refuses an engine it does not know', async () => {
    const { failed, stderr } = await run(['--engine', 'envoy', '--service', 'web']);
    expect(failed).toBe(true);
    expect(stderr).toMatch(/node, haproxy/);
  });
});
