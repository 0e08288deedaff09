// For tests of what reads a ClientHello (the SNI parser, the gateways): the first bytes a real
// Node/OpenSSL client sends, and a raw client that writes bytes in one go and reads what comes back.
import { once } from 'node:events';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Endpoint } from '../endpoint.js';

/** The first bytes a real Node/OpenSSL client sends (for `servername`, or none), captured by a silent server. */
export async function captureClientHello(servername?: string): Promise<Buffer> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const accepted = once(server, 'connection');
  const client = tls.connect({ port, host: '127.0.0.1', ...(servername ? { servername } : {}) });
  client.on('error', () => {});
  const [socket] = (await accepted) as [net.Socket];
  const [hello] = (await once(socket, 'data')) as [Buffer];
  socket.destroy();
  client.destroy();
  server.close();
  return hello;
}

/**
 * Writes `payload` in one write, half-closes, and returns every byte that comes back before the end,
 * and whether the connection ended with an error (a reset) rather than a close.
 */
export async function sendAndHalfClose(
  to: Endpoint,
  payload: Buffer,
): Promise<{ received: Buffer; reset: boolean }> {
  const socket = net.connect({ ...to, allowHalfOpen: true });
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  let reset = false;
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {
    reset = true;
  });
  // Not events.once: it would reject on the 'error' a reset brings, which is an answer here.
  const closed = new Promise((resolve) => socket.once('close', resolve));
  socket.end(payload);
  await closed;
  return { received: Buffer.concat(chunks), reset };
}

/**
 * A ClientHello that never finishes: it announces 60,000 bytes and comes as three full 16 KiB handshake
 * records, past what any gateway buffers for one.
 */
export function unfinishedClientHello(): Buffer {
  const records: Buffer[] = [];
  const body = Buffer.alloc(16_384, 0x41);
  body[0] = 0x01; // ClientHello
  body.writeUIntBE(60_000, 1, 3);
  for (let i = 0; i < 3; i++) {
    const header = Buffer.from([0x16, 0x03, 0x01, 0, 0]);
    header.writeUInt16BE(16_384, 3);
    records.push(header, i === 0 ? body : Buffer.alloc(16_384, 0x41));
  }
  return Buffer.concat(records);
}
