// A client connection that stays open, for tests that change a proxy while traffic flows.
import { once } from 'node:events';
import * as net from 'node:net';
import type { Endpoint } from '../../src/dataplane/endpoint.js';
import { echoOnce } from '../../src/dataplane/testing/traffic.js';
import { eventually } from '../support/meshpeer-process.js';

/** A connection through `endpoint` that stays open: each `say` is echoed back before it resolves. */
export async function liveConnection(endpoint: Endpoint) {
  const socket = net.connect({ host: endpoint.host, port: endpoint.port });
  await once(socket, 'connect');
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    received += chunk;
  });
  const closed = once(socket, 'close');
  socket.on('error', () => {});
  return {
    async say(text: string): Promise<string> {
      const before = received.length;
      socket.write(text);
      await eventually(async () => received.length >= before + text.length || socket.destroyed, 10_000);
      return received.slice(before);
    },
    async close(): Promise<void> {
      socket.end();
      await closed;
    },
  };
}

/** What an echo behind `endpoint` sends back for `text` on a new connection ('' when refused). */
export const echoed = async (endpoint: Endpoint, text: string): Promise<string> =>
  (await echoOnce(endpoint, text)).toString();
