// Listening and closing with promises, and waiting for live connections to drain, shared by the
// gateway and the sidecar.
import { once } from 'node:events';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import type { Endpoint } from './endpoint.js';

export async function listenOn(server: Server, endpoint: Endpoint): Promise<Endpoint> {
  server.listen(endpoint.port, endpoint.host);
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => Promise.reject(err))]);
  const address = server.address() as AddressInfo;
  return { host: endpoint.host, port: address.port };
}

/** A free port on `host`, for an engine's listener asked to bind port 0 (the engine cannot report one it picked). */
export async function ephemeralPort(listen: Endpoint): Promise<Endpoint> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, listen.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return { host: listen.host, port };
}

/** The live connections of a listener, so stopping can drain or cut them. */
export class ConnectionSet {
  private readonly sockets = new Set<Socket>();

  get size(): number {
    return this.sockets.size;
  }

  add(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  /** Waits up to `drainMs` for connections to end by themselves, then cuts the rest. */
  async drain(drainMs: number): Promise<void> {
    const deadline = Date.now() + drainMs;
    while (this.sockets.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(50, drainMs)));
    }
    const closing = [...this.sockets].map((socket) => once(socket, 'close'));
    for (const socket of this.sockets) socket.destroy();
    await Promise.all(closing);
  }
}

/** Stops accepting; resolves when the server has closed (after its connections are gone). */
export async function closeServer(
  server: Server | undefined,
  connections: ConnectionSet,
  drainMs: number,
): Promise<void> {
  if (!server?.listening) return;
  const closed = once(server, 'close');
  server.close();
  await connections.drain(drainMs);
  await closed;
}
