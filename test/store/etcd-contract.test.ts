// The store contract suite (the same tests memory and SQLite pass) against the etcd backend on a real
// 3-member etcd cluster on loopback; each test gets its own key prefix.
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe } from 'vitest';
import { connectEtcd } from '../../src/store/etcd-client.js';
import { openEtcdStore } from '../../src/store/etcd-store.js';
import type { Store } from '../../src/store/store.js';
import { storeContract } from '../../src/store/testing/store-contract.js';
import { type EtcdCluster, startEtcdCluster } from '../support/etcd-cluster.js';

let etcd: EtcdCluster;
const stores: Store[] = [];

beforeAll(async () => {
  etcd = await startEtcdCluster({ members: 3 });
});

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

afterAll(async () => {
  await etcd?.stop();
});

describe('store contract (etcd, 3 members)', () => {
  storeContract(async () => {
    const s = await openEtcdStore({
      client: connectEtcd({ endpoints: etcd.endpoints }),
      prefix: `/meshpeer-test/${randomBytes(4).toString('hex')}/`,
    });
    stores.push(s);
    return s;
  });
});
