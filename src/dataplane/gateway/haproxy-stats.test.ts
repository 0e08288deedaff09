import { describe, expect, it } from 'vitest';
import { countsFromStats } from './haproxy-stats.js';

const HEADER = '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp';
const row = (px: string, sv: string, scur: number, stot: number, dreq: number, econ: number): string =>
  [px, sv, '', '', scur, 0, 0, stot, 0, 0, dreq, 0, 0, econ, 0].join(',');

describe('countsFromStats', () => {
  it('sums backends by route kind and takes rejections from the frontend', () => {
    const csv = [
      HEADER,
      row('mesh_gateway', 'FRONTEND', 3, 20, 7, 0),
      row('service.web', 's0', 1, 5, 0, 1),
      row('service.web', 'BACKEND', 1, 5, 0, 1),
      row('service.api', 'BACKEND', 1, 4, 0, 0),
      row('peer.p.gateways', 'BACKEND', 0, 3, 0, 2),
      row('unknown', 'BACKEND', 9, 9, 9, 9),
      '',
    ].join('\n');
    const kinds = new Map([
      ['service.web', 'inbound' as const],
      ['service.api', 'inbound' as const],
      ['peer.p.gateways', 'outbound' as const],
    ]);
    expect(countsFromStats(csv, kinds)).toEqual({
      forwarded: new Map([
        ['inbound', 9],
        ['outbound', 3],
      ]),
      active: 2,
      rejected: 7,
      unreachable: 3,
    });
  });

  it('reads nothing from an empty or foreign answer', () => {
    expect(countsFromStats('Unknown command\n', new Map())).toEqual({
      forwarded: new Map(),
      active: 0,
      rejected: 0,
      unreachable: 0,
    });
  });
});
