import { HaproxyGateway } from '../../src/dataplane/gateway/haproxy-gateway.js';
import { findHaproxy } from '../../src/dataplane/haproxy-process.js';
import { engineSuite } from './engine-suite.js';

engineSuite({
  name: 'haproxy',
  find: () => findHaproxy(),
  make: ({ binary, ...options }) =>
    new HaproxyGateway({ ...options, ...(binary !== undefined ? { haproxy: binary } : {}) }),
  updatesLive: true,
  // HAProxy's master goes when its worker does.
  kill: (gateway) => process.kill(gateway.workerPid, 'SIGKILL'),
  refusedReasons: { notExported: 'rejected-by-haproxy', notTls: 'rejected-by-haproxy' },
  installHint: /apt-get install haproxy/,
});
