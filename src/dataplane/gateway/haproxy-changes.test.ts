import { describe, expect, it } from 'vitest';
import { changesBetween, runtimeCommandFailed } from './haproxy-changes.js';
import type { RoutePlan } from './route-plan.js';

const MAP = '/run/gw/names.map';

function plan(overrides: Partial<RoutePlan> = {}): RoutePlan {
  return {
    backends: [{ name: 'service.web', kind: 'inbound', endpoints: [{ host: '10.0.0.1', port: 1 }] }],
    names: new Map([['web.default.default.p.external.td', 'service.web']]),
    patterns: [{ regex: '^x$', backend: 'peer.p.gateways' }],
    connectTimeoutMs: 5000,
    ...overrides,
  };
}
const shape = { slots: new Map([['service.web', 4]]), namesMap: MAP };

describe('changesBetween', () => {
  it('finds nothing to do for the same plan', () => {
    expect(changesBetween(plan(), plan(), shape)).toEqual({ kind: 'none' });
  });

  it('adds, changes and deletes map entries at runtime', () => {
    const next = plan({
      names: new Map([
        ['web.default.default.q.external.td', 'service.web'],
        ['api.default.default.p.external.td', 'service.web'],
      ]),
    });
    const change = changesBetween(plan(), next, shape);
    expect(change).toMatchObject({ kind: 'runtime' });
    expect(change.kind === 'runtime' && change.commands).toEqual([
      `add map ${MAP} web.default.default.q.external.td service.web`,
      `add map ${MAP} api.default.default.p.external.td service.web`,
      `del map ${MAP} web.default.default.p.external.td`,
    ]);
  });

  it('re-addresses, enables and disables server slots at runtime, before names change', () => {
    const next = plan({
      backends: [
        {
          name: 'service.web',
          kind: 'inbound',
          endpoints: [
            { host: '10.0.0.2', port: 2 },
            { host: '10.0.0.3', port: 3 },
          ],
        },
      ],
    });
    const change = changesBetween(plan(), next, shape);
    expect(change.kind === 'runtime' && change.commands).toEqual([
      'set server service.web/s0 addr 10.0.0.2 port 2',
      'set server service.web/s1 addr 10.0.0.3 port 3',
      'set server service.web/s1 state ready',
    ]);
    const back = changesBetween(next, plan(), shape);
    expect(back.kind === 'runtime' && back.commands).toEqual([
      'set server service.web/s0 addr 10.0.0.1 port 1',
      'set server service.web/s1 state maint',
    ]);
  });

  it('reloads for new destinations, peers, timeouts, host names and more endpoints than slots', () => {
    const endpoints = (n: number) => Array.from({ length: n }, (_, i) => ({ host: '10.0.1.1', port: i + 1 }));
    const cases: [Partial<RoutePlan>, RegExp][] = [
      [{ connectTimeoutMs: 1000 }, /dial timeout/],
      [
        { backends: [...plan().backends, { name: 'service.api', kind: 'inbound', endpoints: [] }] },
        /\+service\.api/,
      ],
      [{ backends: [] }, /-service\.web/],
      [{ patterns: [] }, /peers changed/],
      [{ backends: [{ name: 'service.web', kind: 'inbound', endpoints: endpoints(5) }] }, /more than its 4/],
      [
        { backends: [{ name: 'service.web', kind: 'inbound', endpoints: [{ host: 'db', port: 1 }] }] },
        /host name/,
      ],
    ];
    for (const [overrides, why] of cases) {
      const change = changesBetween(plan(), plan(overrides), shape);
      expect(change.kind).toBe('reload');
      expect(change.kind === 'reload' && change.why).toMatch(why);
    }
  });
});

describe('runtimeCommandFailed', () => {
  it("reads HAProxy's answers", () => {
    expect(runtimeCommandFailed('\n')).toBe(false);
    expect(
      runtimeCommandFailed("IP changed from '0.0.0.0' to '10.0.0.2', port changed from '1' to '2'\n"),
    ).toBe(false);
    expect(runtimeCommandFailed('No such backend.\n')).toBe(true);
    expect(runtimeCommandFailed('Unknown map identifier. Please use #<id> or <file>.\n')).toBe(true);
  });
});
