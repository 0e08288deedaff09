// The "process alive" TTL check a registered gateway keeps passing, against a real server: a refresh
// that fails is logged and the process goes on; the next tick passes the check again; stopping
// deregisters the gateway with its check and refreshes no more.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { runGateway } from '../../src/dataplane/run-gateway.js';
import { api, eventually, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';

let server: ServerProcess | undefined;
afterAll(async () => {
  await server?.stop();
});

interface Check {
  CheckID: string;
  ServiceID: string;
  Status: string;
  Type: string;
}

describe('the alive check of a registered gateway', () => {
  it('is refreshed while the gateway runs, a failed refresh only logged, and goes on stop', async () => {
    server = await startServerProcess({ datacenter: 'dc-alive' });
    const s = server;
    const lines: string[] = [];
    const logger = pino(
      { level: 'warn' },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(chunk.toString('utf8'));
          done();
        },
      }),
    );
    const gateway = await runGateway({
      server: s.url,
      listen: { host: '127.0.0.1', port: 0 },
      serviceName: 'mesh-gateway',
      register: { id: 'gw-alive', healthTtlMs: 1_500 },
      datacenter: 'dc-alive',
      localServers: [],
      drainMs: 0,
      configTimeoutMs: 15_000,
      logger,
    });
    const check = async (): Promise<Check | undefined> =>
      (await api<Record<string, Check>>(`${s.url}/v1/agent/checks`)).body['gw-alive:alive'];
    try {
      expect(await check()).toMatchObject({ ServiceID: 'gw-alive', Status: 'passing', Type: 'ttl' });

      // The check disappears from under the process: its refreshes fail, are logged, and it runs on.
      const gone = await api(`${s.url}/v1/agent/check/deregister/gw-alive:alive`, { method: 'PUT' });
      expect(gone.status).toBe(200);
      await eventually(async () => lines.some((l) => l.includes('could not refresh the TTL check')), 10_000);
      // Back (critical, as a new TTL check starts): the next tick passes it.
      const back = await api(`${s.url}/v1/agent/check/register`, {
        json: {
          CheckID: 'gw-alive:alive',
          Name: 'meshpeer process alive',
          ServiceID: 'gw-alive',
          TTL: '1500ms',
        },
      });
      expect(back.status).toBe(200);
      await eventually(async () => (await check())?.Status === 'passing', 10_000);
    } finally {
      await gateway.stop();
    }
    expect(await check()).toBeUndefined();
    const services = await api<Record<string, unknown>>(`${s.url}/v1/agent/services`);
    expect(Object.keys(services.body)).not.toContain('gw-alive');
  });
});
