// Replication under sequences of changes, not single ones: export-list changes back to back, unexport
// then re-export of the same instances, and deregister then re-register of an ID with other fields.
// The importer must end up holding exactly what the exporter exports, every time.
import { afterAll, beforeAll, describe, it } from 'vitest';
import {
  api,
  Cluster,
  converge,
  deregister,
  exportServices,
  health,
  importSnapshot,
  localSnapshot,
  peer,
  register,
  registerGateway,
  type ServerProcess,
  sleep,
} from './helpers.js';

const cluster = new Cluster();
afterAll(() => cluster.stopAll());

const EXPORTER = 'exporter';
const IMPORTER = 'importer';
const SERVICES = Array.from({ length: 50 }, (_, i) => `svc${i}`);

/** A deterministic pseudo-random half of the services (the same seed gives the same half). */
function half(seed: number): string[] {
  let x = seed * 2654435761;
  return SERVICES.filter(() => {
    x = (x * 1103515245 + 12345) >>> 0;
    return (x >>> 16) % 2 === 0;
  });
}

async function registerMany(server: ServerProcess, count: number): Promise<void> {
  const batch: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    batch.push(
      register(server, { node: `n${i % 7}`, service: `svc${i % 50}`, id: `s-${i}`, port: 2000 + i }),
    );
    if (batch.length === 20) await Promise.all(batch.splice(0));
  }
  await Promise.all(batch);
}

describe('sequences of changes', () => {
  let exporter: ServerProcess;
  let importer: ServerProcess;

  beforeAll(async () => {
    [exporter, importer] = await Promise.all([cluster.start('seq-exporter'), cluster.start('seq-importer')]);
    await peer(exporter, importer, EXPORTER, IMPORTER);
    await registerGateway(exporter, 8443);
    await registerMany(exporter, 200);
  });

  it('five export-list changes 200 ms apart converge on the last list', async () => {
    let last: string[] = [];
    for (let round = 1; round <= 5; round++) {
      last = half(round);
      await exportServices(exporter, Object.fromEntries(last.map((n) => [n, [IMPORTER]])));
      await sleep(200);
    }
    await converge(() => importSnapshot(importer, EXPORTER), await localSnapshot(exporter, last), 10_000);
  });

  it('twenty export-list changes with no pause converge on the last list', async () => {
    let last: string[] = [];
    for (let round = 10; round < 30; round++) {
      last = half(round);
      await exportServices(exporter, Object.fromEntries(last.map((n) => [n, [IMPORTER]])));
    }
    await converge(() => importSnapshot(importer, EXPORTER), await localSnapshot(exporter, last), 10_000);
  });

  it('unexport then re-export of the same instances brings every one back', async () => {
    const all = Object.fromEntries(SERVICES.map((n) => [n, [IMPORTER]]));
    for (let round = 0; round < 3; round++) {
      await exportServices(exporter, all);
      const r = await api(`${exporter.url}/v1/config/exported-services/default`, { method: 'DELETE' });
      if (r.status !== 200) throw new Error(`delete export: ${r.status} ${r.text}`);
    }
    await converge(() => importSnapshot(importer, EXPORTER), {}, 10_000);
    await exportServices(exporter, all);
    await converge(() => importSnapshot(importer, EXPORTER), await localSnapshot(exporter, SERVICES), 10_000);
  });

  it('deregister then re-register of an ID with other tags and health is what the importer holds', async () => {
    await exportServices(exporter, Object.fromEntries(SERVICES.map((n) => [n, [IMPORTER]])));
    for (let i = 0; i < 50; i++) {
      await deregister(exporter, `n${i % 7}`, `s-${i}`);
      const r = await api(`${exporter.url}/v1/catalog/register`, {
        method: 'PUT',
        json: {
          Node: `n${i % 7}`,
          Address: '10.0.0.1',
          Service: { ID: `s-${i}`, Service: `svc${i % 50}`, Port: 7000 + i, Tags: ['v2'] },
          Checks: [
            {
              CheckID: `check:s-${i}`,
              Name: 'c',
              Status: i % 3 === 0 ? 'critical' : 'passing',
              ServiceID: `s-${i}`,
            },
          ],
        },
      });
      if (r.status !== 200) throw new Error(`register: ${r.status} ${r.text}`);
    }
    const want = await localSnapshot(exporter, SERVICES);
    await converge(() => importSnapshot(importer, EXPORTER), want, 10_000);
    // Tags are exported as registered: every re-registered instance carries the new one.
    const tagged = async (): Promise<string[]> => {
      const out: string[] = [];
      for (let i = 0; i < 50; i++) {
        const { body } = await health(importer, `svc${i}`, EXPORTER);
        const h = body.find((e) => e.Service.ID === `s-${i}`);
        if (h?.Service.Tags.includes('v2')) out.push(`s-${i}`);
      }
      return out;
    };
    await converge(
      tagged,
      Array.from({ length: 50 }, (_, i) => `s-${i}`),
    );
  });
});
