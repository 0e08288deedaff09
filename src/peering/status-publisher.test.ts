// StatusPublisher on a memory store: writes a peering's stream status once, again only when it changed,
// and never for a peering that is gone.
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../shared/logger.js';
import { StateStore } from '../store/state-store.js';
import { PEERINGS, peeringKey, STREAM_SNAPSHOTS } from './records.js';
import { StatusPublisher } from './status-publisher.js';
import { StreamStatus } from './stream-status.js';

async function setup() {
  const store = new StateStore('memory', undefined);
  await store.write((tx) => tx.put(PEERINGS, peeringKey('beta'), { Name: 'beta' }));
  const statuses = new Map<string, StreamStatus>([['beta', new StreamStatus()]]);
  const publisher = new StatusPublisher(store, () => statuses, silentLogger());
  const flushed = () => new Promise((r) => setTimeout(r, 10));
  return { store, statuses, publisher, flushed };
}

describe('StatusPublisher', () => {
  it('publishes a status once, and again only after it changed', async () => {
    const { store, statuses, publisher, flushed } = await setup();
    publisher.publish();
    await flushed();
    const first = store.get(STREAM_SNAPSHOTS, peeringKey('beta'));
    expect(first?.value).toMatchObject({ connected: false });
    publisher.publish();
    await flushed();
    expect(store.get(STREAM_SNAPSHOTS, peeringKey('beta'))?.modifyIndex).toBe(first?.modifyIndex);
    statuses.get('beta')!.trackConnected(new Date('2026-12-01T00:00:00Z'));
    publisher.publish();
    await flushed();
    const second = store.get(STREAM_SNAPSHOTS, peeringKey('beta'));
    expect(second?.modifyIndex).toBeGreaterThan(first!.modifyIndex);
    // A follower rebuilds the same facts.
    const rebuilt = StreamStatus.fromSnapshot(second!.value as never);
    expect(rebuilt.connected).toBe(true);
    expect(rebuilt.connectedAt?.toISOString()).toBe('2026-12-01T00:00:00.000Z');
  });

  it('writes nothing for a peering that no longer exists', async () => {
    const { store, statuses, publisher, flushed } = await setup();
    statuses.set('gone', new StreamStatus());
    publisher.publish();
    await flushed();
    expect(store.get(STREAM_SNAPSHOTS, peeringKey('gone'))).toBeUndefined();
  });
});
