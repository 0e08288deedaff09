// The live streams of this server's peerings: one entry per peering with its stream status, its current
// replication session and, for a dialer, the loop that keeps dialing. Acceptor and dialer sessions start
// and end through the same two calls (sessionStarted, sessionEnded), so both roles record the same facts.
import type { Catalog } from '../catalog/catalog.js';
import type { ConfigEntries } from '../config-entries/config-store.js';
import type { Logger } from '../shared/logger.js';
import type { Store } from '../store/store.js';
import { DialerLoop } from './dialer-loop.js';
import { type PeeringRecord, recordByName } from './records.js';
import {
  type MessageStream,
  ReplicationSession,
  type SessionDeps,
  type SessionEnd,
  TERMINATED_BY_PEER,
} from './session.js';
import { markActive, markTerminated, noteStreamEvent } from './state-machine.js';
import { StreamStatus } from './stream-status.js';

export interface StreamsDeps {
  store: Store;
  catalog: Catalog;
  config: ConfigEntries;
  logger: Logger;
  datacenter: string;
  trustDomain: () => string;
  rootPems: () => string[];
  /** Where the peer should dial us, sent to it as ServerAddresses. */
  serverAddresses: () => string[];
  /** Where to dial a peer whose servers are at these addresses (this cluster's gateways may stand in). */
  dialAddresses: (peerAddresses: string[]) => string[];
  heartbeatMs: number;
  timeoutMs: number;
  redialBaseMs: number;
  redialMaxMs: number;
  maxMessageBytes: number;
  onMessage?: ((peer: string, direction: 'sent' | 'received', type: string) => void) | undefined;
}

interface Live {
  status: StreamStatus;
  session?: ReplicationSession | undefined;
  dialer?: DialerLoop;
}

export class PeeringStreams {
  private readonly live = new Map<string, Live>();
  private stopped = false;

  constructor(private readonly d: StreamsDeps) {}

  /** The live status of a peering's stream, if it has had one since this server started. */
  status(name: string): StreamStatus | undefined {
    return this.live.get(name)?.status;
  }

  /** Starts (or restarts) the dialer loop of a dialer peering, with a fresh status. */
  startDialer(name: string): void {
    if (this.stopped) return;
    const live = this.liveFor(name);
    live.dialer?.stop();
    live.status = new StreamStatus(() => this.noteStream(name, true));
    live.dialer = new DialerLoop(
      name,
      live.status,
      this.sessionDeps(name),
      {
        record: () => recordByName(this.d.store, name),
        dialAddresses: (record) => this.d.dialAddresses(record.PeerServerAddresses),
        onConnected: (session) => this.sessionStarted(name, live, session),
        onSessionEnded: (session, end) => this.sessionEnded(name, live, session, end),
        onTerminated: (reason) => this.terminatedByPeer(name, reason),
      },
      {
        redialBaseMs: this.d.redialBaseMs,
        redialMaxMs: this.d.redialMaxMs,
        maxMessageBytes: this.d.maxMessageBytes,
        localDatacenter: this.d.datacenter,
      },
      this.d.logger,
    );
  }

  /** Runs a session on a stream the acceptor authenticated (replacing any earlier one of the peering). */
  accept(record: PeeringRecord, call: MessageStream): void {
    const name = record.Name;
    const live = this.liveFor(name);
    live.session?.stop();
    live.status = new StreamStatus(() => this.noteStream(name, true));
    live.status.trackConnected();
    const session = new ReplicationSession(name, call, live.status, this.sessionDeps(name));
    session.start();
    this.sessionStarted(name, live, session);
    void session.done.then((end) => this.sessionEnded(name, live, session, end));
  }

  /** Ends the current session of a peering (its stream secret was replaced); a dialer reconnects. */
  endSession(name: string): void {
    this.live.get(name)?.session?.stop();
  }

  /** Tells the peer the peering is deleted over the live stream (or a stream opened for it), then stops. */
  async terminate(name: string): Promise<void> {
    const live = this.live.get(name);
    if (live?.dialer) await live.dialer.terminate();
    else if (live?.session && !live.session.isEnded) await live.session.terminate();
    this.stop(name);
  }

  /** Stops a peering's session and dialer, and forgets its live status. */
  stop(name: string): void {
    const l = this.live.get(name);
    if (l === undefined) return;
    l.session?.stop();
    l.dialer?.stop();
    this.live.delete(name);
  }

  /** True while the peering has a dialer loop that has not given up. */
  hasDialer(name: string): boolean {
    return this.live.get(name)?.dialer?.running === true;
  }

  /** The status of every peering with a live entry, for publishing to the cluster's other servers. */
  statuses(): Map<string, StreamStatus> {
    return new Map([...this.live].map(([name, l]) => [name, l.status]));
  }

  /**
   * Stops every session and dialer. `final` (shutdown) refuses new ones afterwards; otherwise (this
   * server stopped leading) they may start again.
   */
  async stopAll(final = true): Promise<void> {
    if (final) this.stopped = true;
    const waits: Promise<void>[] = [];
    for (const l of this.live.values()) {
      l.session?.stop();
      if (l.dialer) {
        l.dialer.stop();
        waits.push(l.dialer.finished);
      }
    }
    await Promise.all(waits);
    this.live.clear();
  }

  private sessionStarted(name: string, live: Live, session: ReplicationSession): void {
    live.session = session;
    this.d.logger.info({ peer: name, role: this.roleOf(live) }, 'peering stream connected');
    this.d.store
      .write((tx) => markActive(tx, name))
      .catch((err: unknown) => this.d.logger.warn({ peer: name, err }, 'cannot mark the peering active'));
    this.noteStream(name, true);
  }

  private async sessionEnded(
    name: string,
    live: Live,
    session: ReplicationSession,
    end: SessionEnd,
  ): Promise<void> {
    if (live.session === session) live.session = undefined;
    if (end.reason === 'terminated') {
      await this.terminatedByPeer(name, TERMINATED_BY_PEER);
      return;
    }
    this.noteStream(name, false);
    if (end.reason === 'closed')
      this.d.logger.warn({ peer: name, error: end.message }, 'peering stream ended');
  }

  /** The peer deleted the peering: it stays as TERMINATED, and what the peer gave us goes. */
  private async terminatedByPeer(name: string, reason: string): Promise<void> {
    this.stop(name);
    await this.d.store.write((tx) => markTerminated(tx, name, reason, this.d.catalog));
    this.d.logger.warn({ peer: name, reason }, 'peering terminated by the peer');
  }

  /** Records a stream (dis)connection so blocking reads of the peering wake on the state change. */
  private noteStream(name: string, connected: boolean): void {
    if (this.stopped) return;
    this.d.store
      .write((tx) => noteStreamEvent(tx, name, connected))
      .catch((err: unknown) => this.d.logger.warn({ peer: name, err }, 'cannot record a stream event'));
  }

  private roleOf(live: Live): 'dialer' | 'acceptor' {
    return live.dialer !== undefined ? 'dialer' : 'acceptor';
  }

  private liveFor(name: string): Live {
    let l = this.live.get(name);
    if (l === undefined) {
      l = { status: new StreamStatus() };
      this.live.set(name, l);
    }
    return l;
  }

  private sessionDeps(name: string): SessionDeps {
    return {
      store: this.d.store,
      catalog: this.d.catalog,
      config: this.d.config,
      logger: this.d.logger,
      trustDomain: this.d.trustDomain(),
      rootPems: this.d.rootPems,
      serverAddresses: this.d.serverAddresses,
      heartbeatMs: this.d.heartbeatMs,
      timeoutMs: this.d.timeoutMs,
      onMessage: (direction, type) => this.d.onMessage?.(name, direction, type),
    };
  }
}
