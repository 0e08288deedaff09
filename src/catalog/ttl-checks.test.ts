// TTL checks in the catalog, on an in-memory store with a hand-driven clock: expiry marks the check
// critical through the write path, updates re-arm it, deregistration disarms it, a restart re-arms it.
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { Catalog } from './catalog.js';
import { decodeAgentRegistration } from './requests.js';
import { fakeClock } from './testing/fake-clock.js';

const node = { Node: 'n1', Address: '127.0.0.1' };
const open: Array<{ store: Store; catalog: Catalog }> = [];

afterEach(async () => {
  for (const o of open.splice(0)) {
    o.catalog.stop();
    await o.store.close();
  }
});

function setup(store: Store = openStore({ backend: 'memory' })) {
  const f = fakeClock();
  const catalog = new Catalog(store, 'dc1', { clock: f.clock });
  open.push({ store, catalog });
  return { f, catalog, store };
}

async function registerWeb(catalog: Catalog, check: Record<string, unknown> = { TTL: '2s' }) {
  const r = decodeAgentRegistration({ Name: 'web', Port: 80, Check: { CheckID: 'web:alive', ...check } });
  await catalog.registerOnNode(node, r.service, r.checks);
}

const statusOf = (catalog: Catalog, id = 'web:alive') =>
  catalog.nodeChecks('n1').find((c) => c.CheckID === id);

/** Lets the expiry's store write commit (it runs on the timer, not awaited by the test). */
async function until(fn: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !fn(); i++) await new Promise((r) => setImmediate(r));
  expect(fn()).toBe(true);
}

describe('TTL checks', () => {
  it('start critical, pass, and turn critical with "TTL expired" when not updated', async () => {
    const { f, catalog, store } = setup();
    await registerWeb(catalog);
    expect(statusOf(catalog)?.Status).toBe('critical');
    expect(statusOf(catalog)?.Type).toBe('ttl');
    await catalog.updateCheck('n1', 'web:alive', 'passing');
    f.advance(1_500);
    await catalog.updateCheck('n1', 'web:alive', 'passing', 'still here');
    f.advance(1_500);
    expect(statusOf(catalog)?.Status).toBe('passing');
    const before = catalog.index();
    const woke = store.waitForChange(catalog.tables, before, 60_000);
    f.advance(500);
    await until(() => statusOf(catalog)?.Status === 'critical');
    expect(statusOf(catalog)?.Output).toBe('TTL expired (last output before timeout follows): still here');
    expect(await woke).toBeGreaterThan(before);
    expect(catalog.healthService('web', { passing: true })).toEqual([]);
    // Updated again: passing, and armed again.
    await catalog.updateCheck('n1', 'web:alive', 'passing');
    expect(catalog.ttls.deadlineOf('n1', 'web:alive')).toBeDefined();
  });

  it('disarms a check whose service is deregistered or that is registered again without a TTL', async () => {
    const { catalog } = setup();
    await registerWeb(catalog);
    expect(catalog.ttls.armedOn('n1')).toEqual(['web:alive']);
    await catalog.deregisterService('n1', 'web');
    expect(catalog.ttls.armedOn('n1')).toEqual([]);
    await registerWeb(catalog);
    await registerWeb(catalog, { Status: 'passing' });
    expect(catalog.ttls.armedOn('n1')).toEqual([]);
    await registerWeb(catalog);
    await catalog.deregister({ Node: 'n1', ServiceID: undefined, CheckID: 'web:alive' });
    expect(catalog.ttls.armedOn('n1')).toEqual([]);
  });

  it('does not expire a check with a zero TTL or one registered through the catalog endpoint', async () => {
    const { f, catalog } = setup();
    await registerWeb(catalog, { TTL: '0s', Status: 'passing' });
    await catalog.register({
      Node: 'n1',
      SkipNodeUpdate: true,
      Check: { CheckID: 'cat', Name: 'cat', Status: 'passing', Type: 'ttl' },
    });
    f.advance(3_600_000);
    expect(catalog.ttls.armedOn('n1')).toEqual([]);
    expect(statusOf(catalog)?.Status).toBe('passing');
  });

  it('re-arms stored TTL checks at start with a full TTL', async () => {
    const store = openStore({ backend: 'memory' });
    const first = setup(store);
    await registerWeb(first.catalog);
    await first.catalog.updateCheck('n1', 'web:alive', 'passing');
    first.catalog.stop();
    const { f, catalog } = setup(store);
    await catalog.rearmTtlChecks();
    expect(catalog.ttls.armedOn('n1')).toEqual(['web:alive']);
    f.advance(1_999);
    expect(statusOf(catalog)?.Status).toBe('passing');
    f.advance(1);
    await until(() => statusOf(catalog)?.Status === 'critical');
    expect(statusOf(catalog)?.Output).toBe('TTL expired');
  });
});
