// For tests and benchmarks: a TCP port on 127.0.0.1 that nothing listens on at the moment of asking
// (another process may take it before it is used; callers that bind it themselves retry on EADDRINUSE).
//
// The port is drawn at random from below the kernel's ephemeral range (ip_local_port_range), so the
// source port of an outgoing connection, which the kernel takes from that range, never lands on it
// between this call and the bind. (A suite running thousands of connections beside a test that hands a
// port to a child process, etcd say, did hit that: "bind: address already in use".)
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const LOWEST = 10_000;
const ATTEMPTS = 50;

export async function freePort(): Promise<number> {
  const below = ephemeralLow();
  if (below > LOWEST + 1_000) {
    for (let i = 0; i < ATTEMPTS; i++) {
      const port = LOWEST + Math.floor(Math.random() * (below - LOWEST));
      if (await bindable(port)) return port;
    }
  }
  return await listenOn(0);
}

/** The first port of the kernel's ephemeral range (Linux); 0 where it cannot be read. */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) ? low : 0;
  } catch {
    return 0;
  }
}

function bindable(port: number): Promise<boolean> {
  return listenOn(port).then(
    () => true,
    () => false,
  );
}

function listenOn(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(port, '127.0.0.1', () => {
      const address = probe.address();
      const bound = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(bound));
    });
  });
}
