// Host names resolved before they are written into an engine's configuration (nginx resolves them
// once, when it loads, and refuses to load when one does not resolve): a name that does not resolve is
// logged and left out of the answer.
import { lookup } from 'node:dns/promises';
import type { Logger } from '../shared/logger.js';

/** Each of `hosts` that resolved → its addresses. */
export async function resolveHosts(hosts: Iterable<string>, logger: Logger): Promise<Map<string, string[]>> {
  const resolved = new Map<string, string[]>();
  for (const host of hosts) {
    try {
      resolved.set(
        host,
        (await lookup(host, { all: true })).map((a) => a.address),
      );
    } catch (err) {
      logger.warn(
        { host, err: (err as Error).message },
        `could not resolve ${host}; its endpoints are left out`,
      );
    }
  }
  return resolved;
}
