// SNI on the wire: reading the name off a live connection (sni-peek.ts) and the naming scheme itself,
// which lives with the other identity names in src/ca/sni.ts.

export { peeringServerName } from '../ca/index.js';
export {
  type LocalServiceName,
  localServiceSni,
  type ParsedSni,
  type PeeredServiceName,
  parseSni,
  peeredServiceSni,
  SNI_META_KEY,
} from '../ca/sni.js';
export { type ClientHelloResult, parseClientHello } from './client-hello.js';
export {
  DEFAULT_CLIENT_HELLO_TIMEOUT_MS,
  DEFAULT_MAX_CLIENT_HELLO_BYTES,
  type PeekFailure,
  type PeekOptions,
  type PeekResult,
  peekServerName,
} from './sni-peek.js';
