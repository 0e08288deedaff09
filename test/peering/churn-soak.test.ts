// Churn soak: two real servers peered, 60 s of sustained change on the exporter (several hundred
// registrations and deregistrations a second, whole services deregistered, export-list changes), then
// the importer must hold exactly what the exporter exports within a few seconds, the peering must still
// be ACTIVE, and the exporter's memory must stay bounded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { churn, divergence } from '../../bench/support/churn.js';
import { processMemory } from '../../bench/support/measure.js';
import { Cluster, eventually, peer, readPeering, type ServerProcess } from './helpers.js';

const cluster = new Cluster();
afterAll(() => cluster.stopAll());

const SERVICES = 50;
const CHURN_SECONDS = 60;

describe('replication under sustained churn', () => {
  let exporter: ServerProcess;
  let importer: ServerProcess;

  beforeAll(async () => {
    [exporter, importer] = await Promise.all([
      cluster.start('soak-exporter', { dataDir: cluster.dir() }),
      cluster.start('soak-importer', { dataDir: cluster.dir() }),
    ]);
    await peer(exporter, importer, 'exporter', 'importer');
  });

  it(
    'the importer holds exactly the export a few seconds after 60 s of churn, with bounded memory',
    async () => {
      const rssBefore = processMemory(exporter.pid).rss;
      let rssPeak = rssBefore;
      const result = await churn({
        url: exporter.url,
        consumer: 'importer',
        seconds: CHURN_SECONDS,
        rate: 300,
        services: SERVICES,
        idsPerService: 30,
        serviceDeleteEveryMs: 3000,
        exportChangeEveryMs: 4000,
        onTick: () => {
          rssPeak = Math.max(rssPeak, processMemory(exporter.pid).rss);
        },
      });
      expect(result.errors).toBe(0);
      // Not a rate assertion (the machine may be shared): enough change that the test means something.
      expect(result.ops).toBeGreaterThan(1000);

      let last = await divergence(exporter.url, importer.url, 'exporter', SERVICES, result.exported);
      const stoppedAt = Date.now();
      await eventually(async () => {
        last = await divergence(exporter.url, importer.url, 'exporter', SERVICES, result.exported);
        return last.services.length === 0;
      }, 10_000).catch(() => {
        throw new Error(`the importer did not converge 10 s after the churn: ${JSON.stringify(last)}`);
      });
      const convergedMs = Date.now() - stoppedAt;
      expect(convergedMs).toBeLessThan(10_000);

      // Both sides still say ACTIVE, and now that is true.
      expect((await readPeering(importer, 'exporter'))?.State).toBe('ACTIVE');
      expect((await readPeering(exporter, 'importer'))?.State).toBe('ACTIVE');

      // Memory follows the live state (a few thousand instances), not the ~18,000 operations: the
      // stalled exporter of old grew by hundreds of MiB here.
      const growthMiB = (rssPeak - rssBefore) / 2 ** 20;
      process.stdout.write(
        `churn soak: ${result.ops} ops, converged ${convergedMs} ms after, exporter RSS ${(rssBefore / 2 ** 20).toFixed(0)} -> peak ${(rssPeak / 2 ** 20).toFixed(0)} MiB\n`,
      );
      expect(growthMiB).toBeLessThan(120);
    },
    (CHURN_SECONDS + 60) * 1000,
  );
});
