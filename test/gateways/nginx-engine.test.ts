import { NginxGateway } from '../../src/dataplane/gateway/nginx-gateway.js';
import { findNginx } from '../../src/dataplane/nginx-process.js';
import { engineSuite } from './engine-suite.js';

engineSuite({
  name: 'nginx',
  find: () => findNginx(process.env, 'gateway'),
  make: ({ binary, ...options }) =>
    new NginxGateway({
      ...options,
      ...(binary !== undefined ? { env: { ...process.env, MESHPEER_NGINX: binary } } : {}),
      // Lines of connections that ended well wait in nginx's buffer at most this long.
      connectionLogFlushMs: 100,
    }),
  updatesLive: false,
  // A worker alone is replaced by nginx's master; the master is meshpeer's to replace.
  kill: (gateway) => process.kill((gateway as NginxGateway).masterPid, 'SIGKILL'),
  refusedReasons: { notExported: 'not-exported', notTls: 'no-sni' },
  installHint: /apt-get install nginx/,
});
