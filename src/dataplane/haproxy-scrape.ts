// HAProxy's counters read into meshpeer's metrics at each scrape, for both HAProxy engines: one
// `show stat` per scrape however many metrics ask for it, a `…_haproxy_up` gauge saying whether HAProxy
// answered, and the counts the same worker gave at the last scrape, so that only what HAProxy counted
// since is added (a new worker, after a reload or restart, counts from zero again).
import { Gauge, type Registry } from 'prom-client';
import type { HaproxyProcess } from './haproxy-process.js';

export interface HaproxyScrapeOptions<R, C> {
  registry: Registry;
  /** The gauge saying whether HAProxy answered the last scrape (1) or not (0). */
  up: { name: string; help: string };
  /** The HAProxy serving now and the configuration it runs; either missing: nothing to read. */
  current: () => { haproxy?: HaproxyProcess; running?: R };
  /** HAProxy's `show stat` CSV as counts, read with the configuration that names its proxies. */
  parse: (csv: string, running: R) => C;
  /** Adds to the metrics what grew since `before` (undefined: everything counts as new). */
  record: (counts: C, before: C | undefined, running: R) => void;
}

export class HaproxyScrape<R, C> {
  /** Reads HAProxy's counters into the metrics; callers during one read share it. */
  readonly refresh: () => Promise<void>;
  private counted: { worker: number; counts: C } | undefined;
  private reading: Promise<void> | undefined;
  private up = 0;

  constructor(private readonly options: HaproxyScrapeOptions<R, C>) {
    this.refresh = () => {
      this.reading ??= this.read().finally(() => {
        this.reading = undefined;
      });
      return this.reading;
    };
    const scrape = this;
    new Gauge({
      name: options.up.name,
      help: options.up.help,
      registers: [options.registry],
      async collect() {
        await scrape.refresh();
        this.set(scrape.up);
      },
    });
  }

  private async read(): Promise<void> {
    const { haproxy, running } = this.options.current();
    this.up = 0;
    if (!haproxy || running === undefined) return;
    let csv: string;
    try {
      csv = await haproxy.command('show stat');
    } catch {
      return;
    }
    this.up = 1;
    const counts = this.options.parse(csv, running);
    const worker = haproxy.currentWorkerPid;
    const before = this.counted?.worker === worker ? this.counted.counts : undefined;
    this.options.record(counts, before, running);
    this.counted = { worker, counts };
  }
}

/** How much a counter grew since `was`, never less than nothing. */
export function grew(now: number, was = 0): number {
  return Math.max(0, now - was);
}
