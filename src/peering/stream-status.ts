// Live facts about one peering's stream: one object per stream, changed only through its track* calls
// (one per event the stream goes through) and read through getters for status. Only a server of several
// sharing one store publishes a snapshot of it (snapshot()/fromSnapshot()), so that the servers that do not
// own the stream can show it; after a restart a stream has to prove itself again.

interface StreamFacts {
  connected: boolean;
  connectedAt?: Date;
  lastHeartbeat?: Date;
  lastReceive?: Date;
  lastSend?: Date;
  lastAck?: Date;
  lastNack?: Date;
  lastNackMessage?: string;
  lastError?: string;
  lastErrorAt?: Date;
  /** Service names this side last sent to the peer. */
  exported: string[];
  /** Since when our export has been waiting for the peer to take messages (unset: not waiting). */
  sendBlockedSince?: Date;
  /** Since when our import differs from the peer's last checkpoint (unset: in sync or not known). */
  outOfSyncSince?: Date;
  /** When the peer's last checkpoint matched our import. */
  lastCheckpointAt?: Date;
  /** How many times this stream asked the peer for a resync. */
  resyncsRequested?: number;
  /** Why the peer's last trust bundle was refused (unset: accepted, or none received). */
  trustBundleProblem?: string;
  /** Problems the peer cannot see (e.g. exporting without a mesh gateway). */
  warnings: string[];
}

/** StreamFacts as stored: dates as ISO strings. */
export type StreamSnapshot = {
  [K in keyof StreamFacts]: StreamFacts[K] extends Date | undefined ? string : StreamFacts[K];
};

const DATE_FACTS = [
  'connectedAt',
  'lastHeartbeat',
  'lastReceive',
  'lastSend',
  'lastAck',
  'lastNack',
  'lastErrorAt',
  'sendBlockedSince',
  'outOfSyncSince',
  'lastCheckpointAt',
] as const;

export class StreamStatus {
  private f: StreamFacts = { connected: false, exported: [], warnings: [] };

  /** A read-only status rebuilt from a snapshot another server published. */
  static fromSnapshot(snapshot: StreamSnapshot): StreamStatus {
    const status = new StreamStatus();
    const facts: Record<string, unknown> = { ...snapshot };
    for (const k of DATE_FACTS) {
      const v = snapshot[k];
      if (typeof v === 'string') facts[k] = new Date(v);
      else delete facts[k];
    }
    facts.exported = Array.isArray(snapshot.exported) ? [...snapshot.exported] : [];
    facts.warnings = Array.isArray(snapshot.warnings) ? [...snapshot.warnings] : [];
    facts.connected = snapshot.connected === true;
    status.f = facts as unknown as StreamFacts;
    return status;
  }

  /** The facts as JSON-safe values, for publishing. */
  snapshot(): StreamSnapshot {
    const out: Record<string, unknown> = {
      ...this.f,
      exported: [...this.f.exported],
      warnings: [...this.f.warnings],
    };
    for (const k of DATE_FACTS) {
      const v = this.f[k];
      if (v === undefined) delete out[k];
      else out[k] = v.toISOString();
    }
    return out as StreamSnapshot;
  }

  /**
   * @param onExportedChange called when the set of exported services changes: views of the peering
   *   show it, so the owner records the change for blocking reads to wake.
   */
  constructor(private readonly onExportedChange?: () => void) {}

  // ---- connection ----

  /** The stream is up and the peer has spoken (the acceptor accepted it, or the dialer got a first answer). */
  trackConnected(now = new Date()): void {
    this.f.connected = true;
    this.f.connectedAt = now;
    this.f.lastReceive = now;
  }

  /** The stream ended; `error` says why when it was not our own doing. */
  trackDisconnected(error?: string, now = new Date()): void {
    this.f.connected = false;
    this.f.sendBlockedSince = undefined;
    if (error !== undefined) this.trackError(error, now);
  }

  /** Something went wrong on the stream or with what came over it (the latest one is shown). */
  trackError(message: string, now = new Date()): void {
    this.f.lastError = message;
    this.f.lastErrorAt = now;
  }

  // ---- messages ----

  /** Any message from the peer: proof the stream is alive. */
  trackReceive(now = new Date()): void {
    this.f.lastReceive = now;
    this.f.connected = true;
  }

  trackHeartbeat(now = new Date()): void {
    this.f.lastHeartbeat = now;
  }

  trackSend(now = new Date()): void {
    this.f.lastSend = now;
  }

  trackAck(now = new Date()): void {
    this.f.lastAck = now;
  }

  trackNack(message: string, now = new Date()): void {
    this.f.lastNack = now;
    this.f.lastNackMessage = message;
  }

  // ---- export ----

  /** Our export waits for the peer to take messages (the first wait counts). */
  trackSendBlocked(now = new Date()): void {
    this.f.sendBlockedSince ??= now;
  }

  trackSendUnblocked(): void {
    this.f.sendBlockedSince = undefined;
  }

  trackExported(names: string[]): void {
    const changed = names.length !== this.f.exported.length || names.some((n, i) => n !== this.f.exported[i]);
    this.f.exported = names;
    if (changed) this.onExportedChange?.();
  }

  trackWarnings(warnings: string[]): void {
    this.f.warnings = warnings;
  }

  // ---- import ----

  /** The peer's checkpoint differs from our import: a resync was asked for. */
  trackOutOfSync(now = new Date()): void {
    this.f.outOfSyncSince ??= now;
    this.f.resyncsRequested = (this.f.resyncsRequested ?? 0) + 1;
  }

  /** The peer's checkpoint matched our import. */
  trackCheckpointMatched(now = new Date()): void {
    this.f.outOfSyncSince = undefined;
    this.f.lastCheckpointAt = now;
  }

  /** The peer's last trust bundle was refused for `problem`, or accepted (undefined). */
  trackTrustBundle(problem: string | undefined): void {
    this.f.trustBundleProblem = problem;
  }

  // ---- read-only view ----

  get connected(): boolean {
    return this.f.connected;
  }
  get connectedAt(): Date | undefined {
    return this.f.connectedAt;
  }
  get lastHeartbeat(): Date | undefined {
    return this.f.lastHeartbeat;
  }
  get lastReceive(): Date | undefined {
    return this.f.lastReceive;
  }
  get lastSend(): Date | undefined {
    return this.f.lastSend;
  }
  get lastAck(): Date | undefined {
    return this.f.lastAck;
  }
  get lastNack(): Date | undefined {
    return this.f.lastNack;
  }
  get lastNackMessage(): string | undefined {
    return this.f.lastNackMessage;
  }
  get lastError(): string | undefined {
    return this.f.lastError;
  }
  get lastErrorAt(): Date | undefined {
    return this.f.lastErrorAt;
  }
  get exported(): readonly string[] {
    return this.f.exported;
  }
  get sendBlockedSince(): Date | undefined {
    return this.f.sendBlockedSince;
  }
  get outOfSyncSince(): Date | undefined {
    return this.f.outOfSyncSince;
  }
  get lastCheckpointAt(): Date | undefined {
    return this.f.lastCheckpointAt;
  }
  get resyncsRequested(): number | undefined {
    return this.f.resyncsRequested;
  }
  get trustBundleProblem(): string | undefined {
    return this.f.trustBundleProblem;
  }
  get warnings(): readonly string[] {
    return this.f.warnings;
  }

  /** The facts as a plain object (logs, test diagnostics). */
  toJSON(): Readonly<StreamFacts> {
    return { ...this.f };
  }
}
