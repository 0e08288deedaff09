import { describe, expect, it } from 'vitest';
import { countsFromSidecarStats, parseSidecarLogLine, upstreamRefusal } from './haproxy-sidecar-stats.js';
import type { RenderedUpstream } from './haproxy-upstreams.js';

const upstream = (
  servers: string[],
  skipped: RenderedUpstream['route']['skipped'] = [],
): RenderedUpstream => ({
  spec: { name: 'backend', bind: { host: '127.0.0.1', port: 9191 } },
  label: 'backend',
  proxy: 'upstream_0',
  route: { candidates: [], skipped, unsupported: [] },
  servers: servers.map((name) => ({
    name,
    target: 'backend',
    role: 'primary' as const,
    route: 'direct' as const,
    endpoint: { host: '10.0.0.1', port: 1 },
  })),
  rejected: [],
});

const CSV = [
  '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ',
  'inbound,FRONTEND,,,1,2,,7,0,0,3,0,0,',
  'inbound_app,app,0,0,1,1,,4,0,0,,0,,0',
  'inbound_app,BACKEND,0,0,1,1,,4,0,0,0,0,,0',
  'upstream_0,FRONTEND,,,2,2,,9,0,0,0,0,0,',
  'upstream_0,t0e0,0,0,2,2,,8,0,0,,0,,3',
  'upstream_0,t1e0,0,0,0,1,,1,0,0,,0,,0',
  'upstream_0,BACKEND,0,0,2,2,,9,0,0,0,0,,3',
].join('\n');

describe('countsFromSidecarStats', () => {
  it('reads connections per direction, to the app, per upstream and per server', () => {
    const counts = countsFromSidecarStats(CSV, [upstream(['t0e0', 't1e0'])]);
    expect(counts.active).toEqual({ inbound: 1, upstream: 2 });
    expect(counts.inboundAllowed).toBe(4);
    expect(counts.upstreamSessions.get('upstream_0')).toBe(9);
    expect(counts.servers.get('upstream_0/t0e0')).toEqual({ carried: 5, failed: 3 });
    expect(counts.servers.get('upstream_0/t1e0')).toEqual({ carried: 1, failed: 0 });
  });
});

describe('parseSidecarLogLine', () => {
  it('reads an inbound refusal with its reason, caller and detail', () => {
    const line =
      'refused inbound connection reason=intention-deny caller=spiffe://td/ns/default/dc/dc1/svc/web ' +
      'peer=- detail=intention web → backend says deny from=127.0.0.1:4000 state=PR';
    expect(parseSidecarLogLine(line)).toEqual({
      kind: 'inbound-refused',
      reason: 'intention-deny',
      caller: 'spiffe://td/ns/default/dc/dc1/svc/web',
      detail: 'intention web → backend says deny',
    });
  });

  it('counts no refusal for an allowed connection that ended with an error', () => {
    const line = 'refused inbound connection reason=- caller=- peer=- detail=- from=127.0.0.1:4000 state=CD';
    expect(parseSidecarLogLine(line)).toBeUndefined();
  });

  it('reads a failed handshake and a failed upstream connection', () => {
    expect(
      parseSidecarLogLine('127.0.0.1:47488 [01/Dec/2026:02:53:38.328] inbound/1: SSL handshake failure'),
    ).toEqual({ kind: 'inbound-handshake-failed', detail: 'SSL handshake failure' });
    expect(
      parseSidecarLogLine(
        '127.0.0.1:56786 [01/Dec/2026:02:57:49.549] inbound/1: SSL client certificate not trusted',
      ),
    ).toEqual({ kind: 'inbound-handshake-failed', detail: 'SSL client certificate not trusted' });
    expect(
      parseSidecarLogLine(
        'upstream connection failed proxy=upstream_0 server=t0e0 state=SC bytes_in=0 bytes_out=0 ms=3',
      ),
    ).toEqual({ kind: 'upstream-failed', proxy: 'upstream_0', server: 't0e0', state: 'SC' });
    expect(parseSidecarLogLine('[NOTICE]   (1) : Loading success.')).toBeUndefined();
  });
});

describe('upstreamRefusal', () => {
  it('says why a connection could not be made, and nothing for one that was carried', () => {
    const up = upstream(['t0e0']);
    expect(upstreamRefusal({ server: 't0e0', state: 'SC' }, up)).toBe('upstream-unreachable');
    expect(upstreamRefusal({ server: 't0e0', state: 'sC' }, up)).toBe('upstream-unreachable');
    expect(upstreamRefusal({ server: 't0e0', state: 'CD' }, up)).toBeUndefined();
    const none = upstream(
      [],
      [
        {
          ok: false,
          target: 'backend',
          reason: 'no-instances',
          detail: 'upstream backend has no passing instance',
        },
      ],
    );
    expect(upstreamRefusal({ server: '<NOSRV>', state: 'SC' }, none)).toBe('no-instances');
  });
});
