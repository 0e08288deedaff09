import { connect } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { listen, shutdownServer } from './grpc-service.js';

describe('shutdownServer', () => {
  it('resolves when a connection is being destroyed at the moment of shutdown', async () => {
    const server = new grpc.Server();
    const port = await listen(server, '127.0.0.1:0', grpc.ServerCredentials.createInsecure());
    const client = connect(`http://127.0.0.1:${port}`);
    client.on('error', () => {});
    // Wait until the server holds the HTTP/2 session of this connection.
    const sessions = (
      server as unknown as { sessions: Map<import('node:http2').ServerHttp2Session, unknown> }
    ).sessions;
    for (let i = 0; i < 200 && sessions.size === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(sessions.size).toBe(1);
    // A session destroyed but not yet reported closed: grpc-js's graceful close registers a callback
    // that never runs for it, so only the forced path can end the shutdown.
    for (const session of sessions.keys()) session.destroy();
    let settled = false;
    const done = shutdownServer(server, 50).then(() => {
      settled = true;
    });
    // A timer keeps the loop alive while we wait: without it, a hang would end the worker instead.
    for (let i = 0; i < 100 && !settled; i++) await new Promise((r) => setTimeout(r, 20));
    client.destroy();
    expect(settled).toBe(true);
    await done;
  });
});
