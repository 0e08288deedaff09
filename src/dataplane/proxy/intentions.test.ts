import { describe, expect, it } from 'vitest';
import type { VerifiedIdentity } from '../../ca/index.js';
import { type ServiceIntentionsEntry, serviceIntentionsSchema } from '../../config-entries/index.js';
import { authorize, intentionRules } from './intentions.js';

function caller(service: string, peerName?: string, namespace = 'default'): VerifiedIdentity {
  const trustDomain = peerName ? 'peer.consul' : 'ours.consul';
  return {
    spiffeId: `spiffe://${trustDomain}/ns/${namespace}/dc/dc1/svc/${service}`,
    identity: { kind: 'service', trustDomain, partition: 'default', namespace, datacenter: 'dc1', service },
    ...(peerName ? { peerName } : {}),
  };
}

function entry(name: string, sources: unknown[]): ServiceIntentionsEntry {
  return serviceIntentionsSchema.parse({ Kind: 'service-intentions', Name: name, Sources: sources });
}

describe('authorize', () => {
  it('applies the default when no intention matches', () => {
    expect(authorize(caller('web'), 'api', [], 'allow').action).toBe('allow');
    expect(authorize(caller('web'), 'api', [], 'deny').action).toBe('deny');
  });

  it('matches a peer source only for a caller from that peer', () => {
    const entries = [entry('api', [{ Name: 'web', Peer: 'cluster-02', Action: 'allow' }])];
    expect(authorize(caller('web', 'cluster-02'), 'api', entries, 'deny').action).toBe('allow');
    expect(authorize(caller('web', 'cluster-03'), 'api', entries, 'deny').action).toBe('deny');
    expect(authorize(caller('web'), 'api', entries, 'deny').action).toBe('deny');
  });

  it('matches a local source only for a local caller', () => {
    const entries = [entry('api', [{ Name: 'web', Action: 'deny' }])];
    expect(authorize(caller('web'), 'api', entries, 'allow').action).toBe('deny');
    expect(authorize(caller('web', 'cluster-02'), 'api', entries, 'allow').action).toBe('allow');
  });

  it('lets the most precise intention win, across the service entry and the wildcard entry', () => {
    const entries = [
      entry('*', [{ Name: 'web', Peer: 'cluster-02', Action: 'deny' }]),
      entry('api', [{ Name: '*', Peer: 'cluster-02', Action: 'allow' }]),
    ];
    // Destination exact (api) outranks destination wildcard, whatever the source.
    expect(authorize(caller('web', 'cluster-02'), 'api', entries, 'deny').action).toBe('allow');
    const narrower = [...entries, entry('api', [{ Name: 'web', Peer: 'cluster-02', Action: 'deny' }])];
    expect(authorize(caller('web', 'cluster-02'), 'api', narrower, 'allow')).toMatchObject({
      action: 'deny',
    });
  });

  it('ignores entries for other destinations', () => {
    const entries = [entry('billing', [{ Name: 'web', Action: 'deny' }])];
    expect(authorize(caller('web'), 'api', entries, 'allow').action).toBe('allow');
  });

  it('denies on L7 permissions, which a TCP proxy cannot judge', () => {
    const entries = [
      entry('api', [{ Name: 'web', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/' } }] }]),
    ];
    expect(authorize(caller('web'), 'api', entries, 'allow')).toMatchObject({
      action: 'deny',
      reason: expect.stringMatching(/L7/),
    });
  });

  it('matches namespaces exactly unless the source says "*"', () => {
    const exact = [entry('api', [{ Name: 'web', Namespace: 'team', Action: 'deny' }])];
    expect(authorize(caller('web'), 'api', exact, 'allow').action).toBe('allow');
    expect(authorize(caller('web', undefined, 'team'), 'api', exact, 'allow').action).toBe('deny');
  });
});

describe('intentionRules', () => {
  it('lays rules out by precedence, an explicit deny first on a tie, else in the entries’ order', () => {
    const entries = [
      entry('*', [{ Name: 'web', Action: 'allow' }]),
      entry('api', [
        { Name: '*', Action: 'allow' },
        { Name: 'db', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/' } }] },
        { Name: 'web', SamenessGroup: 'group', Action: 'allow' },
        { Name: 'web', Peer: 'p1', Namespace: 'team', Action: 'allow' },
      ]),
      // Entries a list may hold for one destination (the store keeps one; a snapshot may not).
      entry('api', [{ Name: 'db', Action: 'allow' }]),
      entry('api', [{ Name: 'db', Action: 'deny' }]),
    ];
    const rules = intentionRules('api', entries);
    expect(rules.map((r) => `${r.peer ?? r.partition}/${r.namespace}/${r.name} ${r.action}`)).toEqual([
      'default/default/db deny',
      'default/default/db deny', // L7 permissions: deny, in its place among the equals
      'p1/team/web allow',
      'default/default/db allow',
      'default/default/* allow',
      'default/default/web allow',
    ]);
    expect(rules[1]?.reason).toMatch(/L7 permissions/);
    expect(intentionRules('billing', entries).map((r) => r.name)).toEqual(['web']);
  });

  it('decides exactly as picking the most precedent matching source did', () => {
    // The earlier authorize, kept as the oracle: best by precedence, a deny replacing a non-deny tie.
    const oracle = (
      caller: VerifiedIdentity,
      entries: ServiceIntentionsEntry[],
      fallback: 'allow' | 'deny',
    ) => {
      let best: { Action?: string; Precedence: number } | undefined;
      for (const e of entries) {
        if (e.Name !== 'api' && e.Name !== '*') continue;
        for (const s of e.Sources) {
          const id = caller.identity;
          if (id.kind !== 'service') continue;
          if (s.Peer ? caller.peerName !== s.Peer : caller.peerName !== undefined || !!s.SamenessGroup)
            continue;
          if (!s.Peer && (s.Partition || 'default') !== id.partition) continue;
          const ns = s.Namespace || 'default';
          if (ns !== '*' && ns !== id.namespace) continue;
          if (s.Name !== '*' && s.Name !== id.service) continue;
          if (!best || s.Precedence > best.Precedence) best = s;
          else if (s.Precedence === best.Precedence && s.Action === 'deny' && best.Action !== 'deny')
            best = s;
        }
      }
      return best ? (best.Action ?? 'deny') : fallback;
    };
    let seed = 7;
    const pick = <T>(items: readonly T[]): T => {
      // xorshift32: reproducible, and every bit varies.
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return items[(seed >>> 0) % items.length] as T;
    };
    const source = (destination: string): Record<string, unknown> => {
      // L7 permissions need a known destination, so "*" gets none.
      const action = pick(['allow', 'deny', 'deny', destination === '*' ? 'allow' : undefined] as const);
      return {
        Name: pick(['web', 'db', '*']),
        ...(pick([true, false]) ? { Namespace: pick(['default', 'team', '*']) } : {}),
        ...(pick([true, false, false]) ? { Peer: pick(['p1', 'p2']) } : {}),
        ...(action ? { Action: action } : { Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/' } }] }),
      };
    };
    for (let round = 0; round < 2000; round++) {
      const entries = [0, 1, 2, 3].map(() => {
        // One source per (peer, namespace, name) within an entry, as the schema requires.
        const destination = pick(['api', '*', 'other']);
        const sources = new Map<string, Record<string, unknown>>();
        for (const s of [0, 1, 2, 3].map(() => source(destination)))
          sources.set(`${s.Peer}/${s.Namespace ?? 'default'}/${s.Name}`, s);
        return entry(destination, [...sources.values()]);
      });
      const who = caller(pick(['web', 'db']), pick([undefined, 'p1', 'p2']), pick(['default', 'team']));
      const fallback = pick(['allow', 'deny'] as const);
      expect(authorize(who, 'api', entries, fallback).action).toBe(oracle(who, entries, fallback));
    }
  });
});
