// SharedTtls on a memory store with a hand-driven clock: checks are armed from their last renewal through
// any server, an expiring check renewed elsewhere waits for the rest of its TTL, and dropped TTLs disarm.
import { describe, expect, it } from 'vitest';
import { StateStore } from '../store/state-store.js';
import { CHECK_TTL_RENEWALS, CHECK_TTLS, CHECKS, checkKey } from './keys.js';
import { SharedTtls } from './shared-ttls.js';
import { fakeClock } from './testing/fake-clock.js';
import { TtlMonitor } from './ttl-monitor.js';

async function setup() {
  const store = new StateStore('memory', undefined);
  const f = fakeClock();
  const expired: string[] = [];
  const monitor = new TtlMonitor(async (node, id) => {
    if (!shared.rearmIfRenewed(node, id)) expired.push(`${node}/${id}`);
  }, f.clock);
  const shared = new SharedTtls(store, monitor, () => f.clock.now());
  const key = checkKey('', 'n1', 'alive');
  await store.write((tx) => {
    tx.put(CHECKS, key, { Node: 'n1', CheckID: 'alive', Status: 'passing' });
    tx.put(CHECK_TTLS, key, 10_000);
    shared.renewed(tx, key);
  });
  return { store, f, monitor, shared, expired, key };
}

describe('SharedTtls', () => {
  it('arms a check from its last renewal, not from now', async () => {
    const { f, monitor, shared } = await setup();
    const renewedAt = f.clock.now();
    f.advance(4_000);
    shared.sync();
    expect(monitor.deadlineOf('n1', 'alive')).toBe(renewedAt + 10_000);
    shared.stop();
  });

  it('a check renewed through another server since it was armed waits for the rest of its TTL', async () => {
    const { store, f, shared, expired, key } = await setup();
    shared.sync();
    f.advance(8_000);
    // Another server renews it (the store write is what that server does).
    await store.write((tx) => tx.put(CHECK_TTL_RENEWALS, key, f.clock.now()));
    f.advance(2_000); // this server's timer fires at the old deadline
    expect(expired).toEqual([]);
    f.advance(7_999);
    expect(expired).toEqual([]);
    f.advance(1);
    expect(expired).toEqual(['n1/alive']);
    shared.stop();
  });

  it('forgets a check whose TTL row is gone', async () => {
    const { store, monitor, shared, key } = await setup();
    shared.sync();
    expect(monitor.armedChecks()).toEqual([{ node: 'n1', checkID: 'alive' }]);
    await store.write((tx) => tx.delete(CHECK_TTLS, key));
    shared.sync();
    expect(monitor.armedChecks()).toEqual([]);
    shared.stop();
  });
});
