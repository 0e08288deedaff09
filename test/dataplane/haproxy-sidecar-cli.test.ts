// `meshpeer proxy --engine haproxy` as processes (from dist/, built by `npm test`) between two real
// servers: configuration and leaves from the server's HTTP API, registration as the connect-proxy, a
// local upstream and a peered one through real gateways, an intention refusal, SIGTERM; and the
// command's refusals (no HAProxy binary, an unknown engine).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DataplaneProcess,
  logRecords,
  newestLogRecord,
  sidecarRefusals,
} from '../security/dataplane-processes.js';
import { eventually, type ServerProcess } from '../support/meshpeer-process.js';
import { echoed, liveConnection } from './live-connection.js';
import {
  call,
  connectProxiesOf,
  denyIntention,
  runProxyCommand,
  type Stop,
  startDrain,
  startSidecarTopology,
} from './sidecar-cli-topology.js';

// `meshpeer proxy --engine haproxy` as a process (from dist/, built by `npm test`), against real servers:
// configuration and leaves from the server's HTTP API, registration, peering, SIGTERM.
describe('meshpeer proxy --engine haproxy, as a process between real servers', () => {
  const stops: Stop[] = [];
  let c1: ServerProcess;
  let backendProc: DataplaneProcess;
  let webPort: number;
  let frontendPort: number;

  beforeAll(async () => {
    ({ c1, backendProc, webPort, frontendPort } = await startSidecarTopology('haproxy', stops, [
      ['--engine', 'haproxy'],
      [],
    ]));
  }, 120_000);

  afterAll(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  });

  it('registers as the connect-proxy of its service and carries a local upstream', async () => {
    expect(await connectProxiesOf(c1, 'backend')).toEqual([
      ['connect-proxy', 'backend', backendProc.address.port],
    ]);
    expect(logRecords(backendProc, /^haproxy started$/)).toHaveLength(1);
    const upstream = { host: '127.0.0.1', port: webPort };
    await eventually(async () => (await echoed(upstream, 'via web')) === 'via web', 30_000);
  });

  it('carries a peered upstream to the exporter, whose leaf names the peered SNI', async () => {
    const upstream = { host: '127.0.0.1', port: frontendPort };
    await eventually(async () => (await echoed(upstream, 'from dc2')) === 'from dc2', 60_000);
  });

  it('refuses a caller an intention denies, saying why', async () => {
    await denyIntention(c1, 'web', 'backend');
    const upstream = { host: '127.0.0.1', port: webPort };
    await eventually(async () => (await echoed(upstream, 'denied?')) === '', 30_000);
    await eventually(async () => (await sidecarRefusals(backendProc, 'intention-deny')) >= 1, 10_000);
    await newestLogRecord(backendProc, /^refused inbound connection: intention web → backend says deny$/);
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
    const { exited } = await startDrain(backendProc, 'haproxy', live);
    await live.close();
    expect(await exited).toBe(0);
  });
});

describe('meshpeer proxy --engine', () => {
  it('fails at start without an HAProxy binary, saying how to install one', async () => {
    // No server answers here: the binary is looked for before anything else.
    const { failed, stderr } = await runProxyCommand(
      ['--engine', 'haproxy', '--server', 'http://127.0.0.1:1', '--service', 'web'],
      { MESHPEER_HAPROXY: '/nonexistent/haproxy' },
    );
    expect(failed).toBe(true);
    expect(stderr).toMatch(
      /haproxy binary \/nonexistent\/haproxy is not an executable file: .*apt-get install haproxy/,
    );
  });

  it('refuses an engine it does not know', async () => {
    const { failed, stderr } = await runProxyCommand(['--engine', 'envoy', '--service', 'web']);
    expect(failed).toBe(true);
    expect(stderr).toMatch(/node, haproxy/);
  });
});
