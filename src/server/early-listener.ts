// Binds the HTTP API's port at the very start of `meshpeer server`, before the server's modules are
// loaded (most of the start-up time), so that a client connecting during start-up waits for its answer
// instead of being refused. Connections accepted meanwhile are held, unread; once the API is ready the
// listening socket and the held connections are handed to its HTTP server, which answers them in order.
// Only node:net is loaded here.
import net from 'node:net';

export interface EarlyListener {
  readonly port: number;
  /** Makes `server` the owner of the listening socket and gives it the connections held so far. */
  handOver(server: net.Server): Promise<void>;
  /** Closes the socket and drops held connections (start-up failed). */
  close(): void;
}

export async function bindEarly(host: string, port: number): Promise<EarlyListener> {
  const early = net.createServer({ pauseOnConnect: true });
  const held: net.Socket[] = [];
  const hold = (s: net.Socket): void => {
    held.push(s);
  };
  early.on('connection', hold);
  await new Promise<void>((resolve, reject) => {
    early.once('error', reject);
    early.listen({ host, port }, () => {
      early.off('error', reject);
      resolve();
    });
  });
  return {
    port: (early.address() as net.AddressInfo).port,
    async handOver(server) {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        // Listening on the early server's handle: new connections now go to `server`.
        server.listen(early, () => {
          server.off('error', reject);
          resolve();
        });
      });
      early.off('connection', hold);
      for (const s of held.splice(0)) {
        server.emit('connection', s);
        s.resume();
      }
    },
    close() {
      for (const s of held.splice(0)) s.destroy();
      early.close();
    },
  };
}

const preBound = new Map<string, EarlyListener>();

/**
 * For a process's entry point that knows, before it loads the CLI at all, that it will run a server on
 * `host:port`: binds it now and leaves it for the server command to take (`takePreBound`).
 */
export async function preBind(host: string, port: number): Promise<void> {
  preBound.set(`${host}:${port}`, await bindEarly(host, port));
}

/** The listener `preBind` made for `host:port`, if any (taken once). */
export function takePreBound(host: string, port: number): EarlyListener | undefined {
  const key = `${host}:${port}`;
  const l = preBound.get(key);
  preBound.delete(key);
  return l;
}
