// The controller's client of its meshpeer server's HTTP API (Consul's /v1 routes): peerings and
// config entries. Every failure becomes a ServerError that says whether the server was unreachable
// or refused, with the server's own explanation.
import { z } from 'zod';
import { describeZodError } from '../shared/zod-message.js';

const DEFAULT_TIMEOUT_MS = 15_000;

export class ServerError extends Error {
  constructor(
    message: string,
    /** The HTTP status, or undefined when the server could not be reached. */
    readonly status: number | undefined,
  ) {
    super(message);
    this.name = 'ServerError';
  }
}

const stringList = z.array(z.string()).nullish();

export const peeringSchema = z.looseObject({
  ID: z.string().nullish(),
  Name: z.string(),
  State: z.string().nullish(),
  PeerID: z.string().nullish(),
  Meta: z.record(z.string(), z.string()).nullish(),
  StreamStatus: z
    .looseObject({
      ImportedServices: stringList,
      ExportedServices: stringList,
      LastHeartbeat: z.string().nullish(),
      LastReceive: z.string().nullish(),
      LastSend: z.string().nullish(),
      /** Why exports may not arrive (e.g. no passing instance), as `meshpeer peering read` shows them. */
      Warnings: stringList,
    })
    .nullish(),
});
export type Peering = z.infer<typeof peeringSchema>;

const tokenResponseSchema = z.looseObject({ PeeringToken: z.string().min(1) });

/** A config entry as the server returns it: Consul's JSON plus the store's indexes. */
export const storedEntrySchema = z.looseObject({
  Kind: z.string(),
  Name: z.string(),
  Meta: z.record(z.string(), z.string()).nullish(),
  CreateIndex: z.number().optional(),
  ModifyIndex: z.number().optional(),
});
export type StoredEntry = z.infer<typeof storedEntrySchema>;

export interface GenerateTokenRequest {
  PeerName: string;
  Meta?: Record<string, string>;
  ServerExternalAddresses?: string[];
}

export interface EstablishRequest {
  PeerName: string;
  PeeringToken: string;
  Meta?: Record<string, string>;
}

export interface ServerClientOptions {
  /** http://host:port of the server's HTTP API. */
  address: string;
  /** ACL token sent as X-Consul-Token. */
  token?: string;
  timeoutMs?: number;
}

export interface PeeringList {
  peerings: Peering[];
  /** X-Consul-Index of the answer; undefined when the server sent none. */
  index: number | undefined;
}

export interface BlockingOptions {
  /** Wait until the server's index passes this one (0: answer at once). */
  index: number;
  waitMs: number;
  signal?: AbortSignal;
}

/** What the reconcilers need from the server; an interface so tests can stand in for it. */
export interface MeshServer {
  readonly address: string;
  /** All peerings; a blocking query when `options.index` is above 0. */
  listPeerings(options: BlockingOptions): Promise<PeeringList>;
  generateToken(req: GenerateTokenRequest): Promise<string>;
  establish(req: EstablishRequest): Promise<void>;
  readPeering(name: string): Promise<Peering | undefined>;
  deletePeering(name: string): Promise<void>;
  readConfigEntry(kind: string, name: string): Promise<StoredEntry | undefined>;
  /** False when check-and-set failed: the entry changed (or appeared) since `cas`. */
  writeConfigEntry(entry: Record<string, unknown>, cas?: number): Promise<boolean>;
  deleteConfigEntry(kind: string, name: string): Promise<void>;
}

export class ServerClient implements MeshServer {
  readonly address: string;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;

  constructor(options: ServerClientOptions) {
    this.address = options.address.replace(/\/+$/, '');
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  async listPeerings(options: BlockingOptions): Promise<PeeringList> {
    const wait = `${Math.max(1, Math.round(options.waitMs / 1000))}s`;
    const path = options.index > 0 ? `/v1/peerings?index=${options.index}&wait=${wait}` : '/v1/peerings';
    const res = await this.request('GET', path, undefined, [], {
      // The server answers within `wait` (plus Consul's jitter of up to wait/16).
      timeoutMs: options.waitMs * 1.1 + this.timeoutMs,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const header = Number(res.headers.get('x-consul-index'));
    const peerings = this.parse(
      z.array(peeringSchema).nullable(),
      await readJson(res, 'GET /v1/peerings'),
      'GET /v1/peerings',
    );
    return { peerings: peerings ?? [], index: Number.isFinite(header) && header > 0 ? header : undefined };
  }

  async generateToken(req: GenerateTokenRequest): Promise<string> {
    const body = await this.json('POST', '/v1/peering/token', req);
    return this.parse(tokenResponseSchema, body, 'POST /v1/peering/token').PeeringToken;
  }

  async establish(req: EstablishRequest): Promise<void> {
    await this.request('POST', '/v1/peering/establish', req);
  }

  async readPeering(name: string): Promise<Peering | undefined> {
    const path = `/v1/peering/${encodeURIComponent(name)}`;
    const res = await this.request('GET', path, undefined, [404]);
    if (res.status === 404) return undefined;
    return this.parse(peeringSchema, await readJson(res, path), `GET ${path}`);
  }

  async deletePeering(name: string): Promise<void> {
    await this.request('DELETE', `/v1/peering/${encodeURIComponent(name)}`, undefined, [404]);
  }

  async readConfigEntry(kind: string, name: string): Promise<StoredEntry | undefined> {
    const path = `/v1/config/${encodeURIComponent(kind)}/${encodeURIComponent(name)}`;
    const res = await this.request('GET', path, undefined, [404]);
    if (res.status === 404) return undefined;
    return this.parse(storedEntrySchema, await readJson(res, path), `GET ${path}`);
  }

  async writeConfigEntry(entry: Record<string, unknown>, cas?: number): Promise<boolean> {
    const path = cas === undefined ? '/v1/config' : `/v1/config?cas=${cas}`;
    const body = await this.json('PUT', path, entry);
    return body === true;
  }

  async deleteConfigEntry(kind: string, name: string): Promise<void> {
    const path = `/v1/config/${encodeURIComponent(kind)}/${encodeURIComponent(name)}`;
    await this.request('DELETE', path, undefined, [404]);
  }

  private async json(method: string, path: string, body: unknown): Promise<unknown> {
    return readJson(await this.request(method, path, body), `${method} ${path}`);
  }

  /**
   * One call to the server: JSON body, the token, a timeout; a refusal (other than `acceptedStatuses`)
   * or an unreachable server becomes a ServerError that says which. Shared with the endpoints controller.
   */
  async request(
    method: string,
    path: string,
    body?: unknown,
    acceptedStatuses: number[] = [],
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.token) headers['x-consul-token'] = this.token;
    let res: Response;
    try {
      res = await fetch(`${this.address}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: withTimeout(options.timeoutMs ?? this.timeoutMs, options.signal),
      });
    } catch (err) {
      if (options.signal?.aborted) throw new ServerError('request cancelled', undefined);
      throw new ServerError(
        `cannot reach the meshpeer server at ${this.address} (${transportReason(err)})`,
        undefined,
      );
    }
    if (res.ok || acceptedStatuses.includes(res.status)) return res;
    const text = (await res.text().catch(() => '')).trim();
    throw new ServerError(
      `the meshpeer server refused ${method} ${path.replace(/\?.*$/, '')} (HTTP ${res.status}): ${text || res.statusText || 'no explanation given'}`,
      res.status,
    );
  }

  private parse<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
    const result = schema.safeParse(body);
    if (result.success) return result.data;
    throw new ServerError(`unexpected answer to ${what}: ${describeZodError(result.error)}`, 200);
  }
}

async function readJson(res: Response, what: string): Promise<unknown> {
  const text = await res.text();
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new ServerError(`unexpected answer to ${what}: not JSON: ${text.slice(0, 200)}`, res.status);
  }
}

function withTimeout(ms: number, signal: AbortSignal | undefined): AbortSignal {
  const timeout = AbortSignal.timeout(ms);
  return signal ? AbortSignal.any([timeout, signal]) : timeout;
}

function transportReason(err: unknown): string {
  if (err instanceof Error) {
    if (err.name === 'TimeoutError') return 'timed out';
    const cause: unknown = (err as Error & { cause?: unknown }).cause;
    if (cause instanceof Error) {
      const code = (cause as Error & { code?: unknown }).code;
      return typeof code === 'string' ? code : cause.message;
    }
    return err.message;
  }
  return String(err);
}
