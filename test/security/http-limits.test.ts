// Item 8 against a real server with small limits (--http-header-timeout 1s, --http-request-timeout 2s,
// --http-max-connections 40): half-sent headers and bodies are cut off, blocking queries are not, and
// connections past the cap are closed as they arrive while the server keeps serving.
import * as http from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from '../server/support.js';
import { api, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';

let server: ServerProcess;
let host: string;
let port: number;

beforeAll(async () => {
  server = await startServerProcess({
    datacenter: 'dc-limits',
    extraArgs: [
      '--http-header-timeout',
      '1s',
      '--http-request-timeout',
      '2s',
      '--http-max-connections',
      '40',
    ],
  });
  const [h, p] = server.httpAddress.split(':');
  host = h ?? '127.0.0.1';
  port = Number(p);
});

afterAll(async () => {
  await server?.stop();
});

/** Opens a socket, writes `data`, and resolves with how long until the server closed it (ms). */
function closedAfter(data: string, limitMs: number): Promise<{ ms: number; socket: Socket; reply: string }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const socket = connect(port, host);
    let reply = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the connection open for ${limitMs} ms`));
    }, limitMs);
    socket.on('connect', () => socket.write(data));
    socket.on('data', (d: Buffer) => {
      reply += d.toString();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ ms: Date.now() - t0, socket, reply });
    });
  });
}

describe('HTTP limits', () => {
  it('closes connections that send half a request header, all 30 within the header timeout', async () => {
    const results = await Promise.all(
      Array.from({ length: 30 }, () =>
        closedAfter('GET /v1/agent/self HTTP/1.1\r\nHost: x\r\nX-Slow: ', 8000),
      ),
    );
    const slowest = Math.max(...results.map((r) => r.ms));
    // 1 s timeout, checked every 250 ms.
    expect(slowest).toBeLessThan(3000);
    expect(results.every((r) => r.ms >= 900)).toBe(true);
    expect((await api(`${server.url}/v1/agent/self`)).status).toBe(200);
  });

  it('closes a connection whose body does not arrive within the request timeout (408)', async () => {
    const r = await closedAfter(
      'PUT /v1/agent/service/register HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"Name":',
      8000,
    );
    expect(r.ms).toBeGreaterThanOrEqual(1900);
    expect(r.ms).toBeLessThan(4500);
    expect(r.reply).toMatch(/^HTTP\/1.1 408/);
    expect((await api(`${server.url}/v1/catalog/services`)).body).not.toHaveProperty('web');
  });

  it('lets a blocking query wait longer than the request timeout', async () => {
    const first = await api(`${server.url}/v1/catalog/services`);
    const t0 = Date.now();
    const blocked = await api(`${server.url}/v1/catalog/services?index=${first.index}&wait=3s`);
    expect(blocked.status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2900);
  });

  it('closes connections past --http-max-connections and serves again once they are gone', async () => {
    const first = await api(`${server.url}/v1/catalog/services`);
    const agent = new http.Agent({ keepAlive: false, maxSockets: 100 });
    const controllers = Array.from({ length: 40 }, () => new AbortController());
    // 40 blocking queries hold every allowed connection.
    const held = controllers.map((controller) =>
      request(`${server.url}/v1/catalog/services?index=${first.index}&wait=60s`, {
        agent,
        signal: controller.signal,
      }).catch(() => undefined),
    );
    await new Promise((r) => setTimeout(r, 1000));
    const extra = await request(`${server.url}/v1/catalog/services`, { agent }).then(
      (res) => `answered ${res.status}`,
      (err: Error) => `refused: ${err.message}`,
    );
    expect(extra).toMatch(/^refused/);
    for (const c of controllers) c.abort();
    await Promise.all(held);
    agent.destroy();
    await new Promise((r) => setTimeout(r, 300));
    expect((await api(`${server.url}/v1/agent/self`)).status).toBe(200);
    expect(server.logs.join('\n')).toContain('--http-max-connections');
  });

  it('refuses nonsense limits at start-up with a message naming the flag', async () => {
    await expect(
      startServerProcess({ datacenter: 'dc-limits-bad', extraArgs: ['--http-max-connections', 'lots'] }),
    ).rejects.toThrow(/--http-max-connections must be a positive whole number/);
    await expect(
      startServerProcess({
        datacenter: 'dc-limits-bad',
        extraArgs: ['--http-header-timeout', '1m', '--http-request-timeout', '10s'],
      }),
    ).rejects.toThrow(/--http-header-timeout must not be longer than --http-request-timeout/);
  }, 120_000);
});
