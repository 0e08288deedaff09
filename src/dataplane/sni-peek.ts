// Waits for a client's ClientHello on a plain TCP socket and returns its server name together with
// every byte read so far, so the caller can replay them to wherever it forwards the connection.
import type { Socket } from 'node:net';
import { parseClientHello } from './client-hello.js';

export type PeekFailure =
  | 'not-tls'
  | 'malformed-client-hello'
  | 'no-sni'
  | 'client-hello-too-large'
  | 'client-hello-timeout'
  | 'closed-before-client-hello';

export type PeekResult =
  | { ok: true; serverName: string; head: Buffer }
  | { ok: false; reason: PeekFailure; detail: string };

export interface PeekOptions {
  /** Default 16 KiB + headers: a ClientHello still incomplete past this is refused, not buffered forever. */
  maxBytes?: number;
  /** Default 10 s: slow or silent clients cannot hold a slot for long. */
  timeoutMs?: number;
}

export const DEFAULT_MAX_CLIENT_HELLO_BYTES = 16_384 + 1024;
export const DEFAULT_CLIENT_HELLO_TIMEOUT_MS = 10_000;

/**
 * Reads from `socket` until a complete ClientHello has arrived (or it cannot). On success the socket
 * is left paused with no data listener, so no byte is lost before the caller pipes it on.
 */
export function peekServerName(socket: Socket, options: PeekOptions = {}): Promise<PeekResult> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_CLIENT_HELLO_BYTES;
  const timeoutMs = options.timeoutMs ?? DEFAULT_CLIENT_HELLO_TIMEOUT_MS;
  return new Promise((resolve) => {
    let head: Buffer = Buffer.alloc(0);
    const finish = (result: PeekResult): void => {
      socket.pause();
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onClosed);
      socket.off('close', onClosed);
      resolve(result);
    };
    const fail = (reason: PeekFailure, detail: string): void => finish({ ok: false, reason, detail });
    const onData = (chunk: Buffer): void => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      // Parsed before the cap: a client may send its ClientHello and more at once (TLS early data, or
      // one that does not wait for the handshake), and those bytes are forwarded, not refused. Only an
      // incomplete ClientHello is held to the cap.
      const hello = parseClientHello(head);
      if (hello.kind === 'incomplete') {
        if (head.length > maxBytes) {
          fail('client-hello-too-large', `no complete ClientHello in the first ${maxBytes} bytes`);
        }
        return;
      }
      if (hello.kind === 'not-tls') fail('not-tls', 'the first bytes are not a TLS handshake record');
      else if (hello.kind === 'malformed') fail('malformed-client-hello', hello.detail);
      else if (hello.serverName === undefined) fail('no-sni', 'the ClientHello carries no server name');
      else finish({ ok: true, serverName: hello.serverName, head });
    };
    const onClosed = (): void =>
      fail('closed-before-client-hello', 'the client closed before its ClientHello');
    const timer = setTimeout(
      () => fail('client-hello-timeout', `no complete ClientHello within ${timeoutMs} ms`),
      timeoutMs,
    );
    socket.on('data', onData);
    socket.once('end', onClosed);
    socket.once('close', onClosed);
    socket.resume();
  });
}
