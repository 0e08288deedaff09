import { cliSuite } from './engine-cli.js';

cliSuite({
  name: 'nginx',
  reloaded: [/routes changed: reloading nginx/, /nginx reloaded/],
  binaryVariable: 'MESHPEER_NGINX',
});
