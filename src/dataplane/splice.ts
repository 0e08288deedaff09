// Joins two sockets into one connection: bytes flow both ways untouched, a half-close (FIN or TLS
// close_notify) on one side is passed to the other, and an error on either side ends both.
import type { Duplex } from 'node:stream';

export interface SpliceResult {
  /** Bytes read from `a` and written to `b`. */
  aToB: number;
  bToA: number;
}

/**
 * Pipes `a` ⇄ `b` and resolves once both are closed. Both sockets must allow half-open
 * connections, or one direction would be cut as soon as the other finishes.
 */
export function splice(a: Duplex, b: Duplex): Promise<SpliceResult> {
  return new Promise((resolve) => {
    const counts: SpliceResult = { aToB: 0, bToA: 0 };
    a.on('data', (chunk: Buffer) => {
      counts.aToB += chunk.length;
    });
    b.on('data', (chunk: Buffer) => {
      counts.bToA += chunk.length;
    });
    let open = 2;
    const onClose = (closed: Duplex, other: Duplex): void => {
      // After a clean close (both directions ended) the other side still flushes what it holds and
      // closes by itself; after a reset nothing more can be delivered, so it is cut too.
      if (!(closed.readableEnded && closed.writableFinished)) other.destroy();
      if (--open === 0) resolve(counts);
    };
    a.once('close', () => onClose(a, b));
    b.once('close', () => onClose(b, a));
    // An error is followed by 'close'; the listener only keeps it from being thrown.
    a.on('error', () => {});
    b.on('error', () => {});
    a.pipe(b);
    b.pipe(a);
  });
}
