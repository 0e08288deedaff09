import { cliSuite } from './engine-cli.js';

cliSuite({
  name: 'haproxy',
  reloaded: [/routes changed shape: reloading haproxy/, /haproxy reloaded/],
  binaryVariable: 'MESHPEER_HAPROXY',
});
