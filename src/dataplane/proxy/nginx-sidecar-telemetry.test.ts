// Unit tests of what the nginx sidecar reads from nginx's connection log lines (syslog datagrams, as
// nginx sends them with `tag=meshpeer,nohostname`) and what it counts and logs for each.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Endpoint } from '../endpoint.js';
import type { RenderedServer, RenderedUpstream } from './haproxy-upstreams.js';
import { NginxSidecarTelemetry, parseNginxLine } from './nginx-sidecar-telemetry.js';
import type { RenderedSidecar } from './sidecar-change-log.js';

/** A datagram as nginx sends it: priority local7.info, time, tag, then our format. */
const syslog = (line: string) => `<190>Dec  1 05:17:06 meshpeer: ${line}`;
const CALLER = 'spiffe://11111111-2222-4333-8444-555555555555.consul/ns/default/dc/dc1/svc/web';

function server(
  name: string,
  target: string,
  endpoint: Endpoint,
  role: RenderedServer['role'],
): RenderedServer {
  return { name, target, role, route: role === 'primary' ? 'direct' : 'remote-gateway', endpoint };
}

function upstream(
  servers: RenderedServer[],
  skipped: RenderedUpstream['route']['skipped'] = [],
): RenderedUpstream {
  return {
    spec: { name: 'backend', bind: { host: '127.0.0.1', port: 9191 } },
    label: 'backend',
    proxy: 'upstream_0',
    route: { candidates: [], skipped, unsupported: [] },
    servers,
    rejected: [],
  };
}

const TWO_TARGETS = upstream([
  server('t0e0', 'backend', { host: '10.0.0.2', port: 21000 }, 'primary'),
  server('t0e1', 'backend', { host: '10.0.0.3', port: 21000 }, 'primary'),
  server('t1e0', 'backend (peer cluster-01)', { host: '192.0.2.1', port: 8443 }, 'failover'),
]);

function telemetry(upstreams: RenderedUpstream[] = [TWO_TARGETS]) {
  const records: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'debug' },
    {
      write(line: string) {
        records.push(JSON.parse(line));
      },
    },
  );
  const running = { config: {}, upstreams, notes: [] } as unknown as RenderedSidecar;
  const t = new NginxSidecarTelemetry(logger, () => running);
  const value = async (name: string, labels: Record<string, string> = {}) => {
    const metric = t.metrics.registry.getSingleMetric(name);
    if (!metric) throw new Error(`no metric ${name}`);
    const { values } = await metric.get();
    return values
      .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
      .reduce((n, v) => n + v.value, 0);
  };
  return { t, records, value };
}

describe('parseNginxLine', () => {
  it('reads an inbound refusal from a syslog datagram: status, reason, caller, peer, detail', () => {
    const line = syslog(
      `meshpeer-inbound status=403 reason=intention-deny caller=${CALLER} peer=p1 ` +
        'from=127.0.0.1:40312 detail=intention peer p1/web → api says deny',
    );
    expect(parseNginxLine(line)).toEqual({
      kind: 'inbound',
      status: 403,
      reason: 'intention-deny',
      caller: CALLER,
      peer: 'p1',
      detail: 'intention peer p1/web → api says deny',
    });
  });

  it('reads back what nginx escaped in a value: quotes, backslashes and UTF-8 bytes as \\xHH', () => {
    const line = syslog(
      'meshpeer-inbound status=403 reason=untrusted-identity caller=spiffe://td/ns/default/dc/dc1/svc/we\\x22b\\x5Cx41 ' +
        'peer=- from=127.0.0.1:40312 detail=intention web \\xE2\\x86\\x92 api says deny',
    );
    expect(parseNginxLine(line)).toMatchObject({
      caller: 'spiffe://td/ns/default/dc/dc1/svc/we"b\\x41',
      detail: 'intention web → api says deny',
    });
  });

  it('leaves out the fields nginx logged as "-" (an allowed caller has no peer and no detail)', () => {
    const line = syslog(
      `meshpeer-inbound status=200 reason=- caller=${CALLER} peer=- from=127.0.0.1:40313 detail=-`,
    );
    expect(parseNginxLine(line)).toEqual({ kind: 'inbound', status: 200, reason: '-', caller: CALLER });
    // A handshake that failed: the check never ran, every field is nginx's default.
    expect(
      parseNginxLine(
        syslog('meshpeer-inbound status=500 reason=- caller=- peer=- from=127.0.0.1:40314 detail=-'),
      ),
    ).toEqual({ kind: 'inbound', status: 500, reason: '-' });
  });

  it('reads an upstream line with the addresses nginx tried, in order', () => {
    expect(
      parseNginxLine(
        syslog(
          'meshpeer-upstream proxy=upstream_0 status=200 connect=0.001, 0.002 ' +
            'addrs=10.0.0.2:21000, 192.0.2.1:8443',
        ),
      ),
    ).toEqual({
      kind: 'upstream',
      proxy: 'upstream_0',
      status: 200,
      addresses: ['10.0.0.2:21000', '192.0.2.1:8443'],
    });
    expect(parseNginxLine(syslog('meshpeer-upstream proxy=upstream_1 status=200 connect=- addrs=-'))).toEqual(
      { kind: 'upstream', proxy: 'upstream_1', status: 200, addresses: [] },
    );
  });

  it('takes nginx’s own messages and anything else for no connection', () => {
    expect(parseNginxLine('2026/12/01 05:17:06 [notice] 12#12: signal process started')).toBeUndefined();
    expect(parseNginxLine(syslog('meshpeer-inbound status=abc reason=-'))).toBeUndefined();
    expect(parseNginxLine('')).toBeUndefined();
  });
});

describe('NginxSidecarTelemetry', () => {
  it('counts allowed callers, and an allowed caller the app did not answer, with a warning', async () => {
    const { t, records, value } = telemetry();
    expect(
      t.onLine(
        syslog(`meshpeer-inbound status=200 reason=- caller=${CALLER} peer=- from=1.1.1.1:1 detail=-`),
      ),
    ).toBe(true);
    expect(
      t.onLine(
        syslog(`meshpeer-inbound status=502 reason=- caller=${CALLER} peer=- from=1.1.1.1:2 detail=-`),
      ),
    ).toBe(true);
    expect(await value('meshpeer_proxy_inbound_allowed_total')).toBe(2);
    expect(await value('meshpeer_proxy_inbound_refused_total')).toBe(0);
    expect(records.filter((r) => r.level === 40)).toMatchObject([
      { caller: CALLER, msg: 'allowed inbound connection failed: the app did not answer' },
    ]);
  });

  it('counts refusals by reason and logs each with reason, caller, peer and why', async () => {
    const { t, records, value } = telemetry();
    t.onLine(
      syslog(
        `meshpeer-inbound status=403 reason=intention-deny caller=${CALLER} peer=- from=1.1.1.1:1 ` +
          'detail=intention web → api says deny',
      ),
    );
    t.onLine(
      syslog(
        'meshpeer-inbound status=403 reason=not-exported-to-peer caller=spiffe://p2.consul/ns/default/dc/dc3/svc/web ' +
          'peer=p2 from=1.1.1.1:2 detail=api is not exported to peer p2',
      ),
    );
    t.onLine(syslog('meshpeer-inbound status=500 reason=- caller=- peer=- from=1.1.1.1:3 detail=-'));
    t.onLine(syslog('meshpeer-inbound status=400 reason=- caller=- peer=- from=1.1.1.1:4 detail=-'));
    expect(await value('meshpeer_proxy_inbound_refused_total', { reason: 'intention-deny' })).toBe(1);
    expect(await value('meshpeer_proxy_inbound_refused_total', { reason: 'not-exported-to-peer' })).toBe(1);
    expect(await value('meshpeer_proxy_inbound_refused_total', { reason: 'tls-handshake' })).toBe(2);
    expect(await value('meshpeer_proxy_inbound_allowed_total')).toBe(0);
    const refusals = records.filter((r) => String(r.msg).startsWith('refused inbound'));
    expect(refusals).toMatchObject([
      {
        reason: 'intention-deny',
        caller: CALLER,
        msg: 'refused inbound connection: intention web → api says deny',
      },
      {
        reason: 'not-exported-to-peer',
        peer: 'p2',
        msg: 'refused inbound connection: api is not exported to peer p2',
      },
      { reason: 'tls-handshake', status: 500 },
      { reason: 'tls-handshake', status: 400 },
    ]);
    expect(refusals[0]).not.toHaveProperty('peer');
  });

  it('counts a connection carried by the first target as forwarded', async () => {
    const { t, value } = telemetry();
    t.onLine(syslog('meshpeer-upstream proxy=upstream_0 status=200 connect=0.001 addrs=10.0.0.2:21000'));
    expect(
      await value('meshpeer_proxy_upstream_connections_total', {
        upstream: 'backend',
        target: 'backend',
        route: 'direct',
      }),
    ).toBe(1);
    expect(await value('meshpeer_proxy_upstream_target_skipped_total')).toBe(0);
    expect(await value('meshpeer_proxy_upstream_refused_total')).toBe(0);
  });

  it('counts the servers tried before the one that carried it as skipped, unreachable', async () => {
    const { t, value } = telemetry();
    t.onLine(
      syslog(
        'meshpeer-upstream proxy=upstream_0 status=200 connect=-, -, 0.003 ' +
          'addrs=10.0.0.2:21000, 10.0.0.3:21000, 192.0.2.1:8443',
      ),
    );
    expect(
      await value('meshpeer_proxy_upstream_target_skipped_total', {
        target: 'backend',
        reason: 'unreachable',
      }),
    ).toBe(2);
    expect(
      await value('meshpeer_proxy_upstream_connections_total', {
        target: 'backend (peer cluster-01)',
        route: 'remote-gateway',
      }),
    ).toBe(1);
    expect(await value('meshpeer_proxy_upstream_connections_total', { target: 'backend' })).toBe(0);
  });

  it('counts a connection no target answered as refused, upstream-unreachable, with a warning', async () => {
    const { t, records, value } = telemetry();
    t.onLine(
      syslog(
        'meshpeer-upstream proxy=upstream_0 status=502 connect=-, - addrs=10.0.0.2:21000, 10.0.0.3:21000',
      ),
    );
    expect(
      await value('meshpeer_proxy_upstream_refused_total', {
        upstream: 'backend',
        reason: 'upstream-unreachable',
      }),
    ).toBe(1);
    expect(await value('meshpeer_proxy_upstream_target_skipped_total', { reason: 'unreachable' })).toBe(2);
    expect(await value('meshpeer_proxy_upstream_connections_total')).toBe(0);
    expect(records.filter((r) => r.level === 40)).toMatchObject([
      {
        upstream: 'backend',
        reason: 'upstream-unreachable',
        tried: ['10.0.0.2:21000', '10.0.0.3:21000'],
        msg: 'upstream connection refused: no target answered',
      },
    ]);
  });

  it('counts an upstream with no target as refused for the route’s reason, and its skipped targets', async () => {
    const skipped = [{ target: 'backend', reason: 'no-instances' as const, detail: 'no passing instance' }];
    const { t, value } = telemetry([upstream([], skipped)]);
    t.onLine(syslog('meshpeer-upstream proxy=upstream_0 status=200 connect=- addrs=-'));
    expect(await value('meshpeer_proxy_upstream_refused_total', { reason: 'no-instances' })).toBe(1);
    expect(
      await value('meshpeer_proxy_upstream_target_skipped_total', {
        target: 'backend',
        reason: 'no-instances',
      }),
    ).toBe(1);
    // Nothing skipped and nothing to dial: no instances.
    const empty = telemetry([upstream([])]);
    empty.t.onLine(syslog('meshpeer-upstream proxy=upstream_0 status=200 connect=- addrs=-'));
    expect(await empty.value('meshpeer_proxy_upstream_refused_total', { reason: 'no-instances' })).toBe(1);
  });

  it('takes a line about an upstream it does not serve (an older rendering) without counting it', async () => {
    const { t, value } = telemetry();
    expect(
      t.onLine(syslog('meshpeer-upstream proxy=upstream_7 status=200 connect=0.001 addrs=10.9.9.9:1')),
    ).toBe(true);
    expect(await value('meshpeer_proxy_upstream_connections_total')).toBe(0);
    expect(await value('meshpeer_proxy_upstream_refused_total')).toBe(0);
  });

  it('relays nginx’s own messages to the logger and keeps connection lines out of it', async () => {
    const { t, records, value } = telemetry();
    const relay = t.relayLogger();
    relay.warn({ pid: 12 }, '2026/12/01 05:17:06 [warn] 12#12: a message of nginx');
    relay.info({}, syslog('meshpeer-inbound status=200 reason=- caller=- peer=- from=1.1.1.1:1 detail=-'));
    expect(records.map((r) => r.msg)).toEqual(['2026/12/01 05:17:06 [warn] 12#12: a message of nginx']);
    expect(await value('meshpeer_proxy_inbound_allowed_total')).toBe(1);
  });
});
