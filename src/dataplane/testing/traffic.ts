// Test and benchmark traffic: an echo app, and clients that push bytes through and check what comes back.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import * as net from 'node:net';
import type { Endpoint } from '../endpoint.js';
import { ConnectionSet, closeServer, listenOn } from '../listen.js';

export interface EchoServer {
  address: Endpoint;
  connections: number;
  /** Bytes received from clients, over all connections. */
  bytesReceived: number;
  close(): Promise<void>;
}

/** An app that sends back every byte it receives and closes its side when the client does. */
export async function startEchoServer(): Promise<EchoServer> {
  const connections = new ConnectionSet();
  const state = { connections: 0, bytesReceived: 0 };
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    state.connections++;
    connections.add(socket);
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      state.bytesReceived += chunk.length;
    });
    socket.pipe(socket);
  });
  const address = await listenOn(server, { host: '127.0.0.1', port: 0 });
  return {
    address,
    get connections() {
      return state.connections;
    },
    get bytesReceived() {
      return state.bytesReceived;
    },
    close: () => closeServer(server, connections, 0),
  };
}

/**
 * An echo app that first says who it is: every connection gets `<name>:` and then its own bytes back,
 * so a client behind any number of hops can tell which instance answered.
 */
export async function startNamedEchoServer(name: string): Promise<EchoServer> {
  const connections = new ConnectionSet();
  const state = { connections: 0, bytesReceived: 0 };
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    state.connections++;
    connections.add(socket);
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      state.bytesReceived += chunk.length;
    });
    socket.write(`${name}:`);
    socket.pipe(socket);
  });
  const address = await listenOn(server, { host: '127.0.0.1', port: 0 });
  return {
    address,
    get connections() {
      return state.connections;
    },
    get bytesReceived() {
      return state.bytesReceived;
    },
    close: () => closeServer(server, connections, 0),
  };
}

export interface TransferResult {
  sent: number;
  received: number;
  sentSha256: string;
  receivedSha256: string;
}

/**
 * Streams `totalBytes` of patterned data to `endpoint` (an echo behind any number of hops), closes
 * its side, and hashes everything that comes back until the far side closes.
 */
export async function echoTransfer(
  endpoint: Endpoint,
  totalBytes: number,
  options: {
    chunkBytes?: number;
    onProgress?: (received: number) => void;
    /** false: keep sending open and close once every byte came back (default: half-close when sent). */
    halfClose?: boolean;
  } = {},
): Promise<TransferResult> {
  const socket = net.connect({
    host: endpoint.host,
    port: endpoint.port,
    allowHalfOpen: true,
    noDelay: true,
  });
  await once(socket, 'connect');
  const sentHash = createHash('sha256');
  const receivedHash = createHash('sha256');
  let received = 0;
  let allBack = (): void => {};
  const back = new Promise<void>((resolve) => {
    allBack = resolve;
  });
  socket.on('data', (chunk: Buffer) => {
    received += chunk.length;
    receivedHash.update(chunk);
    options.onProgress?.(received);
    if (received >= totalBytes) allBack();
  });
  const ended = new Promise<void>((resolve, reject) => {
    socket.once('end', resolve);
    socket.once('error', reject);
    socket.once('close', () => resolve());
  });
  const chunkBytes = options.chunkBytes ?? 64 * 1024;
  let sent = 0;
  let counter = 0;
  while (sent < totalBytes) {
    const chunk = patterned(Math.min(chunkBytes, totalBytes - sent), counter++);
    sentHash.update(chunk);
    sent += chunk.length;
    if (!socket.write(chunk)) {
      await Promise.race([once(socket, 'drain'), ended]);
    }
  }
  if (options.halfClose === false) await Promise.race([back, ended]);
  else socket.end();
  await (options.halfClose === false ? Promise.race([back, ended]) : ended);
  socket.destroy();
  return { sent, received, sentSha256: sentHash.digest('hex'), receivedSha256: receivedHash.digest('hex') };
}

/** Sends `payload`, half-closes, and returns what came back (an empty buffer if refused). */
export async function echoOnce(endpoint: Endpoint, payload: Buffer | string): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect({ host: endpoint.host, port: endpoint.port, allowHalfOpen: true });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => resolve(Buffer.concat(chunks)));
    socket.end(payload);
  });
}

/** Bytes that differ per chunk, so a reordered or repeated chunk changes the hash. */
function patterned(length: number, seed: number): Buffer {
  const chunk = Buffer.allocUnsafe(length);
  let x = Math.imul(seed + 1, 2654435761) >>> 0;
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    chunk.writeUInt32LE(x, i);
  }
  for (; i < length; i++) chunk[i] = (x >>> (8 * (i % 4))) & 0xff;
  return chunk;
}
