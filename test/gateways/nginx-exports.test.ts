import { exportsSuite } from './engine-exports.js';

exportsSuite('nginx');
