// The validating admission webhook the controller serves (POST /validate, AdmissionReview v1, HTTPS):
// refuses a resource whose peering or config entry another resource already names (src/kubernetes/
// uniqueness.ts), as consul-k8s's webhooks do. Every replica serves it, leader or not. It reads the
// API server directly (not a cache), so two resources created back to back are both seen. With inject
// settings, the same server also answers POST /mutate: the sidecar injector (src/kubernetes/inject).
import type { IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../shared/logger.js';
import { CONFIG_ENTRY_RESOURCE_KINDS } from './config-entry-kinds.js';
import type { InjectSettings } from './inject/decision.js';
import { type PodAdmissionRequest, reviewPod } from './inject/review.js';
import type { KubeApi } from './kube-api.js';
import { type CustomResource, PEERING_ACCEPTOR, PEERING_DIALER, type ResourceKind } from './resources.js';
import {
  duplicateMessage,
  type KindedResource,
  othersNamingSameObject,
  serverObjectOf,
} from './uniqueness.js';

const KINDS: readonly ResourceKind[] = [PEERING_ACCEPTOR, PEERING_DIALER, ...CONFIG_ENTRY_RESOURCE_KINDS];
/** The largest request body read (the API server sends at most about 3 MiB of object). */
const MAX_BODY_BYTES = 3 * 1024 * 1024;

interface AdmissionRequest {
  uid: string;
  kind?: { kind?: string };
  namespace?: string;
  operation?: string;
  object?: CustomResource;
  oldObject?: CustomResource;
}

export interface AdmissionDecision {
  allowed: boolean;
  message?: string;
}

/** The kinds whose resources can name the same server object as a resource of `kind`. */
function rivalKinds(kind: ResourceKind): ResourceKind[] {
  return kind === PEERING_ACCEPTOR || kind === PEERING_DIALER ? [PEERING_ACCEPTOR, PEERING_DIALER] : [kind];
}

/**
 * The decision for one request. A CREATE is refused when another resource names the same server object;
 * an UPDATE only when it changes which object the resource names (so finalizers and status can always
 * be written, even on duplicates made before the webhook existed).
 */
export async function review(kube: KubeApi, request: AdmissionRequest): Promise<AdmissionDecision> {
  const kind = KINDS.find((k) => k.kind === request.kind?.kind);
  const obj = request.object;
  if (!kind || !obj?.metadata || (request.operation !== 'CREATE' && request.operation !== 'UPDATE')) {
    return { allowed: true };
  }
  const subject: KindedResource = {
    kind,
    obj: { ...obj, metadata: { ...obj.metadata, namespace: obj.metadata.namespace ?? request.namespace } },
  };
  if (request.operation === 'UPDATE' && request.oldObject) {
    if (serverObjectOf(kind, request.oldObject) === serverObjectOf(kind, subject.obj))
      return { allowed: true };
  }
  const candidates: KindedResource[] = [];
  for (const rival of rivalKinds(kind)) {
    const list = await kube.listResources(rival);
    for (const item of list.items) candidates.push({ kind: rival, obj: item });
  }
  const holder = othersNamingSameObject(subject, candidates)[0];
  return holder ? { allowed: false, message: duplicateMessage(subject, holder) } : { allowed: true };
}

export interface AdmissionWebhook {
  /** host:port it listens on. */
  address: string;
  close(): Promise<void>;
}

export async function serveAdmissionWebhook(options: {
  kube: KubeApi;
  host: string;
  port: number;
  tls: { cert: string; key: string };
  logger: Logger;
  /** Serve the sidecar injector on /mutate with these settings. */
  inject?: InjectSettings;
}): Promise<AdmissionWebhook> {
  const { kube, logger } = options;
  const server: Server = createServer({ cert: options.tls.cert, key: options.tls.key }, (req, res) => {
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const inject = options.inject;
    if (req.method === 'POST' && inject && req.url?.startsWith('/mutate')) {
      return readReview(req, (request) => {
        if (!request?.uid) return reply(400, { error: 'expected an AdmissionReview with a request' });
        const { response, outcome } = reviewPod(request as PodAdmissionRequest, inject);
        if (outcome !== 'ignored') {
          const meta = (request.object as { metadata?: { name?: string; generateName?: string } }).metadata;
          logger.info(
            { namespace: request.namespace, pod: meta?.name ?? meta?.generateName, outcome },
            'sidecar injection',
          );
        }
        reply(200, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response });
      });
    }
    if (req.method !== 'POST' || !req.url?.startsWith('/validate')) return reply(404, { error: 'not found' });
    readReview(req, (request) => {
      if (!request?.uid) return reply(400, { error: 'expected an AdmissionReview with a request' });
      const uid = request.uid;
      review(kube, request)
        .catch(
          (err: unknown): AdmissionDecision => ({
            allowed: false,
            message: `cannot check that the resource is unique: ${err instanceof Error ? err.message : String(err)}`,
          }),
        )
        .then((decision) => {
          if (!decision.allowed) {
            logger.info(
              { kind: request?.kind?.kind, name: request?.object?.metadata?.name, reason: decision.message },
              'admission refused',
            );
          }
          reply(200, {
            apiVersion: 'admission.k8s.io/v1',
            kind: 'AdmissionReview',
            response: {
              uid,
              allowed: decision.allowed,
              ...(decision.allowed
                ? {}
                : { status: { code: 409, reason: 'AlreadyExists', message: decision.message } }),
            },
          });
        });
    });
  });
  /** Reads a whole AdmissionReview body (at most MAX_BODY_BYTES); `undefined` when it is not one. */
  function readReview(req: IncomingMessage, then: (request: AdmissionRequest | undefined) => void): void {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) req.destroy();
      else chunks.push(chunk);
    });
    req.on('end', () => {
      let request: AdmissionRequest | undefined;
      try {
        request = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request?: AdmissionRequest })
          .request;
      } catch {
        request = undefined;
      }
      then(request);
    });
  }
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolveListen());
  });
  const bound = server.address() as AddressInfo;
  return {
    address: `${options.host}:${bound.port}`,
    close: () =>
      new Promise<void>((resolveClose) => {
        server.closeAllConnections();
        server.close(() => resolveClose());
      }),
  };
}
