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
  let waited = false;
  if (index !== undefined && index > 0 && store.maxIndex(tables) <= index) {
    const jitter = Math.floor(Math.random() * (waitMs / 16));
    await waitUntilChangeOrClose(store, reply, tables, index, waitMs + jitter);
    waited = true;
  }
  const current = store.maxIndex(tables);
  const result = waited ? sharedAnswer(store, req, reply, current, compute) : compute();
  // X-Consul-KnownLeader and X-Consul-LastContact are added to every read by app.ts.
  void reply.header('X-Consul-Index', String(current));
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

// One commit often wakes many watchers asking the same question (every sidecar of a service watching
// its upstream). The first woken computes the answer; the others woken in the same turn of the event
// loop reuse it, and its JSON. An answer depends on the watched tables, whose index is in the key, and
// the answers are dropped every turn, so nothing older than the turn is ever served.
interface SharedAnswer {
  index: number;
  result: unknown;
  /** The result's JSON once serialized; any other payload (a handler's own, an error) is serialized as usual. */
  serialize: (payload: unknown) => string;
}

const answers = new WeakMap<Store, Map<string, SharedAnswer>>();

function sharedAnswer<T>(
  store: Store,
  req: FastifyRequest,
  reply: FastifyReply,
  index: number,
  compute: () => T,
): T {
  let turn = answers.get(store);
  if (turn === undefined) {
    const fresh = new Map<string, SharedAnswer>();
    answers.set(store, fresh);
    setImmediate(() => answers.delete(store));
    turn = fresh;
  }
  const key = `${req.method} ${req.url.split('?')[0]}?${questionOf(req.query as Query)}`;
  let hit = turn.get(key);
  if (hit === undefined || hit.index !== index) {
    hit = answerOf(index, compute());
    turn.set(key, hit);
  }
  void reply.serializer(hit.serialize).type('application/json; charset=utf-8');
  return hit.result as T;
}

function answerOf(index: number, result: unknown): SharedAnswer {
  let text: string | undefined;
  return {
    index,
    result,
    serialize: (payload) => {
      // Strings pass as they are: fastify's own rule, and how error bodies are sent.
      if (typeof payload === 'string') return payload;
      if (payload !== result) return JSON.stringify(payload);
      text ??= JSON.stringify(payload);
      return text;
    },
  };
}

/** The query without the blocking parameters, in a stable order. */
function questionOf(q: Query): string {
  return Object.keys(q)
    .filter((k) => k !== 'index' && k !== 'wait')
    .sort()
    .map((k) => `${k}=${JSON.stringify(q[k])}`)
    .join('&');
}
