// Joins two sockets into one connection: bytes flow both ways untouched, a half-close (FIN or TLS
// close_notify) on one side is passed to the other, and an error on either side ends both.
import type { Duplex } from 'node:stream';

/**
 * Relays `a` ⇄ `b` and resolves once both are closed. Both sockets must allow half-open
 * connections, or one direction would be cut as soon as the other finishes. Sockets left paused
 * (as after reading a ClientHello) are resumed.
 */
export function splice(a: Duplex, b: Duplex): Promise<void> {
  return new Promise((resolve) => {
    let open = 2;
    const onClose = (closed: Duplex, other: Duplex): void => {
      // After a clean close (both directions ended) the other side still flushes what it holds and
      // closes by itself; after a reset nothing more can be delivered, so it is cut too.
      if (!(closed.readableEnded && closed.writableFinished)) other.destroy();
      if (--open === 0) resolve();
    };
    a.once('close', () => onClose(a, b));
    b.once('close', () => onClose(b, a));
    // An error is followed by 'close'; the listener only keeps it from being thrown.
    a.on('error', () => {});
    b.on('error', () => {});
    relay(a, b);
    relay(b, a);
  });
}

/**
 * One direction: each chunk is written on as it arrives, reading pauses while `to` is full and
 * resumes when it drains, and the end is passed on. A data listener and a write per chunk, without
 * the bookkeeping of stream.pipe, which this hot path pays for every chunk of every connection.
 */
function relay(from: Duplex, to: Duplex): void {
  const resume = (): void => {
    from.resume();
  };
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) {
      from.pause();
      to.once('drain', resume);
    }
  });
  from.once('end', () => to.end());
  from.resume();
}
