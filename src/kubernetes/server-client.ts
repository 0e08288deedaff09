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

/** What the reconcilers need from the server; an interface so tests can stand in for it. */
export interface MeshServer {
  readonly address: string;
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

  private async request(
    method: string,
    path: string,
    body?: unknown,
    acceptedStatuses: number[] = [],
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
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
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
