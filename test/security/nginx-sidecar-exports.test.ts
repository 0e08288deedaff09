// Issue 9, item 5, with nginx on the sidecars' hot path: the data-plane exports rules
// (test/security/exports-rules.ts) with every sidecar run as `meshpeer proxy --engine nginx`.
import { describeExportsRules } from './exports-rules.js';

describeExportsRules('nginx');
