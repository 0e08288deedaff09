// The sending half of a peering stream: writes messages, and tells the exporter when the stream can
// take more. Back-pressure is read from the stream itself (`writableNeedDrain`) at the moment of
// waiting, never remembered in a flag: a remembered "backlogged" outlives the drain that cleared it,
// and waiting for a drain that already happened stalls the exporter for good while heartbeats still
// flow (the peering looked ACTIVE and replicated nothing).
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { ReplicationMessage, ReplicationMessageSchema } from '../gen/meshpeer/peering/v1/peering_pb.js';

export type Outgoing = MessageInitShape<typeof ReplicationMessageSchema>;

/** The part of a grpc-js duplex stream a session uses (client and server streams both fit). */
export interface MessageStream {
  write(message: Outgoing): boolean;
  end(): void;
  on(event: 'data', listener: (m: ReplicationMessage) => void): unknown;
  on(event: 'error', listener: (err: Error & { code?: number; details?: string }) => void): unknown;
  /** 'cancelled': grpc-js server streams, when the client cancels the call. */
  on(event: 'end' | 'close' | 'cancelled', listener: () => void): unknown;
  /** 'drain': the write buffer emptied after it had filled up. */
  once(event: 'drain', listener: () => void): unknown;
  removeListener(event: 'drain', listener: () => void): unknown;
  /** True while the write buffer is over its high-water mark (Node's Writable). */
  readonly writableNeedDrain?: boolean;
  cancel?(): void;
}

export class StalledError extends Error {}

export class Outbox {
  private closed = false;
  private readonly closers = new Set<() => void>();

  constructor(
    private readonly stream: MessageStream,
    private readonly onSent: (type: string) => void,
    private readonly onWriteError: (message: string) => void,
  ) {}

  send(message: Outgoing, type: string): void {
    if (this.closed) return;
    try {
      this.stream.write(message);
      this.onSent(type);
    } catch (err) {
      this.onWriteError(`cannot write to the stream: ${(err as Error).message}`);
    }
  }

  /** True when the stream's buffer is full and a writer should wait for whenWritable(). */
  get full(): boolean {
    return !this.closed && this.stream.writableNeedDrain === true;
  }

  /**
   * Resolves once the stream's buffer has room (at once if it has room now, or the outbox is closed).
   * Rejects with StalledError if the peer takes nothing for stallMs: the caller ends the stream, and a
   * new one resynchronises from scratch.
   */
  whenWritable(stallMs: number): Promise<void> {
    if (!this.full) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const finish = (err?: Error): void => {
        clearTimeout(timer);
        this.stream.removeListener('drain', onDrain);
        this.closers.delete(onClose);
        if (err) reject(err);
        else resolve();
      };
      const onDrain = (): void => finish();
      const onClose = (): void => finish();
      const timer = setTimeout(
        () => finish(new StalledError(`the peer took no messages for ${Math.round(stallMs / 1000)}s`)),
        stallMs,
      );
      this.stream.once('drain', onDrain);
      this.closers.add(onClose);
    });
  }

  close(): void {
    this.closed = true;
    for (const c of [...this.closers]) c();
  }
}
