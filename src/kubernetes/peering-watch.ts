// Watches the server's peerings with blocking queries (GET /v1/peerings?index=N) and reports which
// peerings changed state, stream counts, or appeared or vanished, so their resources are reconciled
// at once: a status shows ACTIVE as soon as the server says so, and a peering deleted on the server
// is noticed without waiting for the next status refresh.
import type { Logger } from '../shared/logger.js';
import type { MeshServer, Peering } from './server-client.js';

export interface PeeringWatchOptions {
  server: MeshServer;
  /** Names of the peerings whose view changed since the last answer. */
  onChange: (names: string[]) => void;
  logger: Logger;
  /** How long one blocking query waits on the server (default 5 min). */
  waitMs?: number;
}

/** Below this, an answer that did not move the index means the server did not block: slow down. */
const NON_BLOCKING_ANSWER_MS = 100;
const NON_BLOCKING_PAUSE_MS = 1_000;

export class PeeringWatch {
  private readonly abort = new AbortController();
  private seen = new Map<string, string>();
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly options: PeeringWatchOptions) {}

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { server, logger } = this.options;
    const waitMs = this.options.waitMs ?? 300_000;
    let index = 0;
    let failures = 0;
    while (!this.abort.signal.aborted) {
      const started = Date.now();
      try {
        const answer = await server.listPeerings({ index, waitMs, signal: this.abort.signal });
        failures = 0;
        this.compare(answer.peerings);
        const next = answer.index ?? 0;
        // Consul's rule: an index that goes backwards (a restarted server) starts the watch over.
        const blocked = next !== index || Date.now() - started >= NON_BLOCKING_ANSWER_MS;
        index = next < index ? 0 : next;
        if (!blocked) await this.sleep(NON_BLOCKING_PAUSE_MS);
      } catch (err) {
        if (this.abort.signal.aborted) return;
        failures++;
        const delay = Math.min(200 * 2 ** (failures - 1), 5_000);
        logger.debug(
          { err: err instanceof Error ? err.message : String(err), retryInMs: delay },
          'peering watch failed',
        );
        index = 0;
        await this.sleep(delay);
      }
    }
  }

  /** Reports the peerings whose state or stream counts differ from the previous answer. */
  private compare(peerings: Peering[]): void {
    const now = new Map(peerings.map((p) => [p.Name, fingerprint(p)]));
    const changed = new Set<string>();
    for (const [name, print] of now) if (this.seen.get(name) !== print) changed.add(name);
    for (const name of this.seen.keys()) if (!now.has(name)) changed.add(name);
    this.seen = now;
    if (changed.size > 0) this.options.onChange([...changed]);
  }

  private sleep(ms: number): Promise<void> {
    if (this.abort.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}

function fingerprint(p: Peering): string {
  const imported = p.StreamStatus?.ImportedServices?.length ?? 0;
  const exported = p.StreamStatus?.ExportedServices?.length ?? 0;
  return `${p.ID ?? ''}|${p.State ?? ''}|${imported}|${exported}`;
}
