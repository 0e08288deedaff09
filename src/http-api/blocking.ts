// Blocking queries: ?index=N&wait=D waits until the watched tables pass N (or D elapses, plus a little
// jitter as Consul adds) and then answers; every read carries X-Consul-Index.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Store } from '../store/store.js';
import { blockingParams, type Query } from './params.js';

export async function blockingRead<T>(
  store: Store,
  req: FastifyRequest,
  reply: FastifyReply,
  tables: readonly string[],
  compute: () => T,
): Promise<T> {
  const { index, waitMs } = blockingParams(req.query as Query);
  if (index !== undefined && index > 0 && store.maxIndex(tables) <= index) {
    const jitter = Math.floor(Math.random() * (waitMs / 16));
    await waitUntilChangeOrClose(store, reply, tables, index, waitMs + jitter);
  }
  const result = compute();
  void reply.header('X-Consul-Index', String(store.maxIndex(tables)));
  void reply.header('X-Consul-KnownLeader', 'true');
  void reply.header('X-Consul-LastContact', '0');
  return result;
}

/** Waits for the tables to pass afterIndex, for at most timeoutMs, or until the client goes away. */
export async function waitUntilChangeOrClose(
  store: Store,
  reply: FastifyReply,
  tables: readonly string[],
  afterIndex: number,
  timeoutMs: number,
): Promise<void> {
  const abort = new AbortController();
  const onClose = (): void => abort.abort();
  reply.raw.once('close', onClose);
  try {
    await store.waitForChange(tables, afterIndex, timeoutMs, abort.signal);
  } finally {
    reply.raw.off('close', onClose);
  }
}
