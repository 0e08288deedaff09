// The dialer's side of a peering stream: dial the acceptor (every known address in turn), open the
// stream with the stream secret, run a session until it ends, then redial with exponential backoff
// and jitter, until stopped or the peering is terminated. A server of the peer's that is not its leader
// names the leader: the loop dials that address next, after a short pause instead of the backoff.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../shared/logger.js';
import { PeeringService } from './gen/meshpeer/peering/v1/peering_pb.js';
import { parseNotLeader } from './leader-redirect.js';
import type { PeeringRecord } from './records.js';
import { ReplicationSession, type SessionDeps, type SessionEnd, TERMINATED_BY_PEER } from './session.js';
import type { StreamStatus } from './stream-status.js';
import { cleanGrpcDetails, createClient } from './transport/grpc-service.js';
import { dialerCredentials } from './transport/tls.js';

export interface DialerOptions {
  redialBaseMs: number;
  redialMaxMs: number;
  maxMessageBytes: number;
  localDatacenter: string;
}

export interface DialerHooks {
  /** The current record (addresses and secret may change between attempts); undefined stops the loop. */
  record(): PeeringRecord | undefined;
  /**
   * Where to dial the record's peer now: its server addresses, or this cluster's own mesh gateways when
   * peering goes through them (empty when none is registered).
   */
  dialAddresses(record: PeeringRecord): string[];
  /** A session's stream is up (the acceptor answered). */
  onConnected(session: ReplicationSession): void;
  /**
   * A session that had connected ended, however it ended (a Terminated from the peer included); the
   * loop redials afterwards unless stopped or terminated.
   */
  onSessionEnded(session: ReplicationSession, end: SessionEnd): Promise<void>;
  /** The acceptor says this peering no longer exists there (or sent Terminated before anything else). */
  onTerminated(reason: string): Promise<void>;
}

/** Pause before dialing again after a not-the-leader answer (the leader is named, or being elected). */
const FOLLOWER_RETRY_MS = { leaderNamed: 20, noLeader: 250 };
/** After this many not-the-leader answers in a row, the usual backoff applies again. */
const MAX_FOLLOWER_RETRIES = 40;

export class DialerLoop {
  private stopped = false;
  private followerAnswers = 0;
  private session: ReplicationSession | undefined;
  private wake: (() => void) | undefined;
  private attempt = 0;
  private next = 0;
  readonly finished: Promise<void>;

  constructor(
    private readonly name: string,
    private readonly status: StreamStatus,
    private readonly sessionDeps: SessionDeps,
    private readonly hooks: DialerHooks,
    private readonly opts: DialerOptions,
    private readonly logger: Logger,
  ) {
    this.finished = this.run().finally(() => {
      this.running = false;
    });
  }

  /** False once the loop has returned (stopped, terminated, or the record no longer dials). */
  running = true;

  stop(): void {
    this.stopped = true;
    this.session?.stop();
    this.wake?.();
  }

  /** Sends Terminated on the live stream, if any, and stops; resolves when the loop has finished. */
  async terminate(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    const session = this.session;
    if (session !== undefined) {
      await session.terminate();
      session.stop();
    } else {
      // Between redials there is no stream to say it on: open one just for that, so the acceptor
      // learns now rather than never.
      await this.sendTerminatedOnce();
    }
    await this.finished;
  }

  /** Opens a stream to each known address in turn until one carries Terminated; bounded in time. */
  private async sendTerminatedOnce(timeoutMs = 2_000): Promise<void> {
    const record = this.hooks.record();
    if (record?.StreamSecret === undefined) return;
    for (const address of this.hooks.dialAddresses(record)) {
      if (await this.sendTerminatedTo(record, address, timeoutMs)) return;
    }
    this.logger.warn({ peer: this.name }, 'could not reach the peer to tell it the peering is deleted');
  }

  private sendTerminatedTo(record: PeeringRecord, address: string, timeoutMs: number): Promise<boolean> {
    const tls = dialerCredentials({ caPems: record.PeerCAPems, serverName: record.PeerServerName });
    const client = createClient(PeeringService, address, tls.credentials, {
      channelOptions: tls.channelOptions,
    });
    return new Promise<boolean>((resolve) => {
      const call = client.streamResources({ deadline: Date.now() + timeoutMs });
      let delivered = false;
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        client.close();
        resolve(ok);
      };
      // The acceptor answers Terminated by ending the stream; anything it sends first means it accepted us.
      const timer = setTimeout(() => done(delivered), timeoutMs);
      call.on('data', () => {
        delivered = true;
      });
      call.on('end', () => done(true));
      call.on('error', () => done(delivered));
      call.write(this.openMessage(record));
      call.write({ payload: { case: 'terminated', value: {} } });
    });
  }

  private openMessage(record: PeeringRecord) {
    return {
      payload: {
        case: 'open' as const,
        value: {
          peerId: record.PeerID,
          streamSecret: record.StreamSecret ?? '',
          remoteDatacenter: this.opts.localDatacenter,
          dialerPeeringId: record.ID,
          remotePartition: 'default',
        },
      },
    };
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const record = this.hooks.record();
      if (record === undefined || record.StreamSecret === undefined) return;
      if (record.State === 'TERMINATED' || record.State === 'DELETING') return;
      const addresses = this.hooks.dialAddresses(record);
      if (addresses.length === 0) {
        const why =
          'Mesh.Peering.PeerThroughMeshGateways is on but no mesh gateway is registered in this cluster: ' +
          'start one (meshpeer gateway --register)';
        this.status.trackError(why);
        this.logger.warn({ peer: this.name }, why);
        await this.backoff();
        continue;
      }
      const address = addresses[this.next++ % addresses.length] ?? '';
      const end = await this.connectOnce(record, address);
      if (this.stopped) return;
      if (end.reason === 'terminated') return;
      if (end.reason === 'closed' && end.code === grpc.status.NOT_FOUND) {
        await this.hooks.onTerminated(`the acceptor no longer has this peering: ${end.message}`);
        return;
      }
      const leaderAt =
        end.reason === 'closed' && end.code === grpc.status.FAILED_PRECONDITION
          ? parseNotLeader(end.message)
          : undefined;
      if (end.reason === 'closed' && leaderAt !== undefined && this.followerAnswers < MAX_FOLLOWER_RETRIES) {
        this.followerAnswers++;
        this.status.trackError(`${address}: ${cleanGrpcDetails(end.message)}`);
        const i = leaderAt === '' ? -1 : addresses.indexOf(leaderAt);
        if (i >= 0) this.next = i;
        this.logger.debug(
          { peer: this.name, address, leader: leaderAt || '(none)' },
          'peer server is not its leader',
        );
        await this.sleep(i >= 0 ? FOLLOWER_RETRY_MS.leaderNamed : FOLLOWER_RETRY_MS.noLeader);
        continue;
      }
      if (end.reason === 'closed') {
        this.status.trackError(`${address}: ${cleanGrpcDetails(end.message)}`);
        this.logger.warn({ peer: this.name, address, error: end.message }, 'peering stream ended; redialing');
      }
      await this.backoff();
    }
  }

  private async connectOnce(record: PeeringRecord, address: string): Promise<SessionEnd> {
    let client: ReturnType<typeof createClient<typeof PeeringService>> | undefined;
    try {
      const tls = dialerCredentials({ caPems: record.PeerCAPems, serverName: record.PeerServerName });
      client = createClient(PeeringService, address, tls.credentials, {
        channelOptions: tls.channelOptions,
        maxMessageBytes: this.opts.maxMessageBytes,
      });
      const call = client.streamResources();
      call.write(this.openMessage(record));
      const session = new ReplicationSession(this.name, call, this.status, this.sessionDeps);
      this.session = session;
      let announced = false;
      call.on('data', () => {
        if (announced) return;
        announced = true;
        this.attempt = 0;
        this.followerAnswers = 0;
        this.status.trackConnected();
        this.hooks.onConnected(session);
      });
      session.start();
      const end = await session.done;
      if (announced) await this.hooks.onSessionEnded(session, end);
      else if (end.reason === 'terminated') await this.hooks.onTerminated(TERMINATED_BY_PEER);
      return end;
    } catch (err) {
      return { reason: 'closed', message: (err as Error).message };
    } finally {
      this.session = undefined;
      client?.close();
    }
  }

  private backoff(): Promise<void> {
    const exp = Math.min(this.opts.redialMaxMs, this.opts.redialBaseMs * 2 ** Math.min(this.attempt, 16));
    this.attempt++;
    return this.sleep(exp / 2 + Math.random() * (exp / 2));
  }

  /** Waits delay ms, or less if stop() or terminate() wakes the loop. */
  private sleep(delay: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, delay);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }
}
