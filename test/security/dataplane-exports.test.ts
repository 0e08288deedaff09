// Issue 9, item 5: the data-plane exports rules (test/security/exports-rules.ts) with the Node sidecar
// and the Node gateway.
import { describeExportsRules } from './exports-rules.js';

describeExportsRules('node');
