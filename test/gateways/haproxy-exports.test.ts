import { exportsSuite } from './engine-exports.js';

exportsSuite('haproxy');
