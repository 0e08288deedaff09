import { describe, expect, it } from 'vitest';
import { parseConfigEntryOfKind, type ServiceResolverEntry } from '../../config-entries/index.js';
import { resolveUpstream } from './resolver-targets.js';

const resolver = (body: Record<string, unknown>): ServiceResolverEntry =>
  parseConfigEntryOfKind('service-resolver', { Kind: 'service-resolver', Name: 'backend', ...body });

/** A lookup that knows these resolvers. */
const only =
  (...entries: ServiceResolverEntry[]) =>
  (name: string): ServiceResolverEntry | undefined =>
    entries.find((e) => e.Name === name);

const subsets = {
  v1: { Filter: 'Service.Meta.version == v1' },
  v2: { Filter: 'Service.Meta.version == v2', OnlyPassing: true },
};

describe('resolveUpstream with subsets', () => {
  it('resolves to the DefaultSubset and takes the failover of that subset before "*"', () => {
    const r = resolveUpstream(
      { name: 'backend' },
      only(
        resolver({
          Subsets: subsets,
          DefaultSubset: 'v2',
          Failover: {
            v2: { Targets: [{ ServiceSubset: 'v1' }, { Peer: 'cluster-01' }] },
            '*': { Targets: [{ Peer: 'cluster-09' }] },
          },
        }),
      ),
    );
    expect(r.unsupported).toEqual([]);
    expect(r.targets).toEqual([
      {
        service: 'backend',
        namespace: 'default',
        role: 'primary',
        subset: { name: 'v2', filter: 'Service.Meta.version == v2' },
      },
      {
        service: 'backend',
        namespace: 'default',
        role: 'failover',
        subset: { name: 'v1', filter: 'Service.Meta.version == v1' },
      },
      { service: 'backend', peer: 'cluster-01', namespace: 'default', role: 'failover' },
    ]);
  });

  it('falls back to Failover["*"] when the default subset has none of its own', () => {
    const r = resolveUpstream(
      { name: 'backend' },
      only(
        resolver({
          Subsets: subsets,
          DefaultSubset: 'v1',
          Failover: { '*': { Targets: [{ Peer: 'cluster-01' }] } },
        }),
      ),
    );
    expect(r.targets.map((t) => [t.peer ?? '', t.subset?.name ?? ''])).toEqual([
      ['', 'v1'],
      ['cluster-01', ''],
    ]);
  });

  it("reports a subset of another service or of a peer's, instead of guessing", () => {
    const r = resolveUpstream(
      { name: 'backend' },
      only(
        resolver({
          Subsets: subsets,
          Failover: {
            '*': {
              Targets: [
                { Service: 'db', ServiceSubset: 'v1' },
                { Peer: 'cluster-01', ServiceSubset: 'v1' },
              ],
            },
          },
        }),
      ),
    );
    expect(r.targets.map((t) => t.role)).toEqual(['primary']);
    expect(r.unsupported).toEqual([
      'Failover["*"].Targets[0]: ServiceSubset "v1" of db: only subsets of backend itself are supported',
      `Failover["*"].Targets[1]: ServiceSubset "v1" of peer cluster-01's backend: only subsets of backend itself are supported`,
    ]);
  });

  it("follows a Redirect to another local service through that service's resolver, and stops a loop", () => {
    const api = (body: Record<string, unknown>) =>
      parseConfigEntryOfKind('service-resolver', { Kind: 'service-resolver', Name: 'api', ...body });
    const r = resolveUpstream(
      { name: 'backend' },
      only(
        resolver({ Redirect: { Service: 'api', ServiceSubset: 'v2' } }),
        api({
          ConnectTimeout: '3s',
          Subsets: subsets,
          Failover: { v2: { Targets: [{ Peer: 'cluster-01' }] } },
        }),
      ),
    );
    expect(r.unsupported).toEqual([]);
    expect(r.connectTimeoutMs).toBe(3_000);
    expect(r.targets).toEqual([
      {
        service: 'api',
        namespace: 'default',
        role: 'redirect',
        subset: { name: 'v2', filter: 'Service.Meta.version == v2' },
      },
      { service: 'api', peer: 'cluster-01', namespace: 'default', role: 'failover' },
    ]);
    // The chain goes on: api redirects to a peer.
    const toPeer = resolveUpstream(
      { name: 'backend' },
      only(resolver({ Redirect: { Service: 'api' } }), api({ Redirect: { Peer: 'cluster-01' } })),
    );
    expect(toPeer.targets).toEqual([
      { service: 'api', peer: 'cluster-01', namespace: 'default', role: 'redirect' },
    ]);
    // A service without a resolver is the end of the chain.
    expect(
      resolveUpstream({ name: 'backend' }, only(resolver({ Redirect: { Service: 'api' } }))).targets,
    ).toEqual([{ service: 'api', namespace: 'default', role: 'redirect' }]);
    const loop = resolveUpstream(
      { name: 'backend' },
      only(resolver({ Redirect: { Service: 'api' } }), api({ Redirect: { Service: 'backend' } })),
    );
    expect(loop.targets).toEqual([]);
    expect(loop.unsupported).toEqual([
      'Redirect: the resolvers redirect in a loop (backend → api → backend)',
    ]);
  });

  it('refuses a subset filter that does not parse when the entry is written', () => {
    expect(() => resolver({ Subsets: { bad: { Filter: 'Service.Meta.version ==' } } })).toThrow(
      /Subsets.bad.Filter: is not a valid filter expression/,
    );
  });
});
