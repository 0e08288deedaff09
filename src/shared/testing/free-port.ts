// For tests and benchmarks: a TCP port on 127.0.0.1 that nothing listens on at the moment of asking
// (another process may take it before it is used; callers that bind it themselves retry on EADDRINUSE).
import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}
