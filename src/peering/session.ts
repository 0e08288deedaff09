// One replication session over one bidirectional stream, the same on both sides: its lifecycle. It
// wires the export half (what this cluster sends) and the import half (what it applies from the peer)
// to the stream, sends heartbeats, ends the stream when the peer falls silent or stops taking messages,
// and reports how it ended.
import { CA_TABLE } from '../ca/authority.js';
import type { ReplicationMessage } from './gen/meshpeer/peering/v1/peering_pb.js';
import { NackCode, ResourceTypes } from './payloads.js';
import { type ExportDeps, ExportSender } from './replication/export-sender.js';
import { ImportApplier } from './replication/import-applier.js';
import { type MessageStream, Outbox } from './replication/outbox.js';
import type { StreamStatus } from './stream-status.js';

export type { MessageStream } from './replication/outbox.js';

/** What the export half needs (its stall limit is the session's silence timeout), plus the session's own. */
export interface SessionDeps extends Omit<ExportDeps, 'stallMs'> {
  serverAddresses: () => string[];
  heartbeatMs: number;
  timeoutMs: number;
  onMessage?: (direction: 'sent' | 'received', type: string) => void;
}

export type SessionEnd =
  | { reason: 'terminated' }
  | { reason: 'closed'; message: string; code?: number | undefined }
  | { reason: 'stopped' };

/** The reason a peering shows once the peer sent Terminated. */
export const TERMINATED_BY_PEER = 'the peer deleted this peering (it sent Terminated)';

/** What a change to these tables can change in our export (or in the trust bundle we send). */
function exportInputs(deps: SessionDeps): string[] {
  return [...deps.catalog.tables, ...deps.config.tables, CA_TABLE];
}

export class ReplicationSession {
  readonly done: Promise<SessionEnd>;
  private finish!: (end: SessionEnd) => void;
  private ended = false;
  private terminating = false;
  private readonly outbox: Outbox;
  private readonly exports: ExportSender;
  private readonly imports: ImportApplier;
  private unsubscribe: (() => void) | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private startedAt = Date.now();

  constructor(
    private readonly peer: string,
    private readonly stream: MessageStream,
    private readonly status: StreamStatus,
    private readonly deps: SessionDeps,
  ) {
    this.done = new Promise((resolve) => {
      this.finish = resolve;
    });
    this.outbox = new Outbox(
      stream,
      (type) => {
        this.status.trackSend();
        this.deps.onMessage?.('sent', type);
      },
      (message) => this.end({ reason: 'closed', message }),
    );
    // A peer that takes nothing for as long as it may stay silent is treated as gone.
    this.exports = new ExportSender(
      peer,
      this.outbox,
      status,
      { ...deps, stallMs: deps.timeoutMs },
      (message) => this.end({ reason: 'closed', message }),
    );
    this.imports = new ImportApplier(peer, this.outbox, status, deps);
    stream.on('data', (m) => this.receive(m));
    stream.on('error', (err) =>
      this.end({ reason: 'closed', message: err.details ?? err.message, code: err.code }),
    );
    stream.on('end', () => this.end({ reason: 'closed', message: 'the peer closed the stream' }));
    stream.on('cancelled', () => this.end({ reason: 'closed', message: 'the peer cancelled the stream' }));
  }

  /** Starts replicating: everything we export now, then every change, plus heartbeats both ways. */
  start(): void {
    this.startedAt = Date.now();
    this.unsubscribe = this.deps.store.subscribe(exportInputs(this.deps), () => this.exports.request());
    this.exports.sendServerAddresses(this.deps.serverAddresses());
    this.exports.request();
    this.heartbeat = setInterval(
      () => this.outbox.send({ payload: { case: 'heartbeat', value: {} } }, 'heartbeat'),
      this.deps.heartbeatMs,
    );
    this.watchdog = setInterval(
      () => this.checkSilence(),
      Math.max(50, Math.min(this.deps.heartbeatMs, this.deps.timeoutMs / 4)),
    );
  }

  /**
   * Tells the peer this peering is deleted, then ends the stream. Resolves once the peer closed its side
   * (it got the message) or after graceMs: cancelling at once could discard the unsent Terminated.
   */
  async terminate(graceMs = 1000): Promise<void> {
    if (this.ended) return;
    this.terminating = true;
    this.outbox.send({ payload: { case: 'terminated', value: {} } }, 'terminated');
    // The peer ends the stream when it gets the message; ending ours first could drop it.
    const timer = setTimeout(() => this.end({ reason: 'stopped' }), graceMs);
    await this.done;
    clearTimeout(timer);
  }

  stop(): void {
    this.end({ reason: 'stopped' });
  }

  get isEnded(): boolean {
    return this.ended;
  }

  private receive(m: ReplicationMessage): void {
    if (this.ended) return;
    const now = new Date();
    this.status.trackReceive(now);
    this.deps.onMessage?.('received', m.payload.case ?? 'unknown');
    switch (m.payload.case) {
      case 'heartbeat':
        this.status.trackHeartbeat(now);
        return;
      case 'terminated':
        this.end({ reason: 'terminated' });
        return;
      case 'request': {
        const r = m.payload.value;
        if (!r.error) {
          this.status.trackAck(now);
          return;
        }
        this.status.trackNack(`${r.resourceUrl}: ${r.error.message}`, now);
        this.deps.logger.warn(
          { peer: this.peer, resource: r.resourceUrl, error: r.error.message },
          'peer NACKed a resource',
        );
        if (r.error.code === NackCode.OutOfSync && r.resourceUrl === ResourceTypes.ExportedServiceList)
          this.exports.resync(r.error.message);
        return;
      }
      case 'response':
        this.imports.receive(m.payload.value);
        return;
      default:
        return;
    }
  }

  private checkSilence(): void {
    const last = Math.max(this.status.lastReceive?.getTime() ?? 0, this.startedAt);
    if (Date.now() - last > this.deps.timeoutMs) {
      this.end({
        reason: 'closed',
        message: `nothing received from the peer for ${Math.round((Date.now() - last) / 1000)}s (timeout ${this.deps.timeoutMs / 1000}s)`,
      });
    }
  }

  private end(given: SessionEnd): void {
    if (this.ended) return;
    // Once we sent Terminated, however the stream closes is our own doing.
    const end: SessionEnd = this.terminating ? { reason: 'stopped' } : given;
    this.ended = true;
    this.status.trackDisconnected(end.reason === 'closed' ? end.message : undefined);
    this.unsubscribe?.();
    clearInterval(this.heartbeat);
    clearInterval(this.watchdog);
    this.exports.stop();
    this.imports.stop();
    this.outbox.close();
    try {
      this.stream.end();
    } catch {
      // already closed
    }
    this.stream.cancel?.();
    this.finish(end);
  }
}
