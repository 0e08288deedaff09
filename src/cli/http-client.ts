// A typed client of the server's Consul-compatible /v1 HTTP API, used by the client commands.
// It turns transport failures and non-2xx answers into errors whose message tells the user what to do.
import { z } from 'zod';
import { describeZodError } from '../shared/zod-message.js';
import { CliError, UsageError } from './io.js';

export const DEFAULT_HTTP_ADDR = 'http://127.0.0.1:8500';
const DEFAULT_TIMEOUT_MS = 30_000;

export interface HttpClientOptions {
  address: string;
  token?: string;
  timeoutMs?: number;
}

/** The server could not be reached at all (refused, unknown host, timeout, TLS). */
export class ServerUnreachableError extends CliError {
  override readonly takesContext: boolean = false;
  constructor(
    readonly address: string,
    readonly reason: string,
  ) {
    super(
      `cannot reach the meshpeer server at ${address} (${reason}): is \`meshpeer server\` running? ` +
        'set MESHPEER_HTTP_ADDR to point elsewhere',
    );
    this.name = 'ServerUnreachableError';
  }
}

/** The server answered with a non-2xx status; `body` is its (plain-text) explanation. */
export class HttpStatusError extends CliError {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly statusText: string,
    readonly body: string,
    hint = '',
  ) {
    super(
      `${body || statusText || 'no explanation given'} (HTTP ${status}${statusText ? ` ${statusText}` : ''} from ${method} ${path})${hint}`,
    );
    this.name = 'HttpStatusError';
  }
}

// ---- response shapes (Consul's), loose so that extra fields pass through to --json output ----

const stringList = z.array(z.string()).nullish();
const optionalText = z.string().nullish();

export const peeringStreamStatusSchema = z.looseObject({
  ImportedServices: stringList,
  ExportedServices: stringList,
  LastHeartbeat: optionalText,
  LastReceive: optionalText,
  LastSend: optionalText,
  Warnings: stringList,
});

export const peeringSchema = z.looseObject({
  ID: optionalText,
  Name: z.string(),
  State: optionalText,
  PeerID: optionalText,
  PeerServerName: optionalText,
  PeerServerAddresses: stringList,
  PeerCAPems: stringList,
  Remote: z.looseObject({ Datacenter: optionalText, Partition: optionalText }).nullish(),
  Meta: z.record(z.string(), z.string()).nullish(),
  StreamStatus: peeringStreamStatusSchema.nullish(),
  CreateIndex: z.number().nullish(),
  ModifyIndex: z.number().nullish(),
});
export type Peering = z.infer<typeof peeringSchema>;

const peeringTokenSchema = z.looseObject({ PeeringToken: z.string().min(1) });
export type PeeringTokenResponse = z.infer<typeof peeringTokenSchema>;

const catalogServicesSchema = z.record(z.string(), z.array(z.string()).nullable());
export type CatalogServices = z.infer<typeof catalogServicesSchema>;

export const catalogNodeSchema = z.looseObject({
  ID: optionalText,
  Node: z.string(),
  Address: optionalText,
  Datacenter: optionalText,
  PeerName: optionalText,
});
export type CatalogNode = z.infer<typeof catalogNodeSchema>;

const configEntrySchema = z.looseObject({ Kind: optionalText, Name: optionalText });
export type ConfigEntry = z.infer<typeof configEntrySchema>;

export interface GeneratePeeringTokenRequest {
  PeerName: string;
  Meta?: Record<string, string>;
  ServerExternalAddresses?: string[];
}

export interface EstablishPeeringRequest {
  PeerName: string;
  PeeringToken: string;
  Meta?: Record<string, string>;
}

type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';
type Query = Record<string, string | number | undefined>;

/** Accepts `host:port`, `http://host:port` or `https://host:port[/prefix]`; returns it without a trailing slash. */
export function normalizeHttpAddr(raw: string): string {
  const trimmed = raw.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `http://${trimmed}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UsageError(`invalid HTTP address "${raw}": expected host:port or http(s)://host:port`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`invalid HTTP address "${raw}": only http:// and https:// are supported`);
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

export class MeshpeerHttpClient {
  readonly address: string;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;

  constructor(options: HttpClientOptions) {
    this.address = normalizeHttpAddr(options.address);
    this.token = options.token || undefined;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  // ---- catalog and agent ----

  catalogServices(peer?: string): Promise<CatalogServices> {
    return this.json('GET', '/v1/catalog/services', catalogServicesSchema, { query: { peer } });
  }

  catalogNodes(peer?: string): Promise<CatalogNode[]> {
    return this.json('GET', '/v1/catalog/nodes', z.array(catalogNodeSchema), { query: { peer } });
  }

  async registerService(definition: Record<string, unknown>): Promise<void> {
    await this.send('PUT', '/v1/agent/service/register', { body: definition });
  }

  async deregisterService(id: string): Promise<void> {
    await this.send('PUT', `/v1/agent/service/deregister/${encodeURIComponent(id)}`);
  }

  // ---- config entries ----

  /** Returns false when a check-and-set write lost the race (the entry's ModifyIndex moved on). */
  async writeConfig(entry: Record<string, unknown>, cas?: number): Promise<boolean> {
    const text = await this.send('PUT', '/v1/config', { body: entry, query: { cas } });
    return text.trim() !== 'false';
  }

  readConfig(kind: string, name: string): Promise<ConfigEntry> {
    return this.json(
      'GET',
      `/v1/config/${encodeURIComponent(kind)}/${encodeURIComponent(name)}`,
      configEntrySchema,
    );
  }

  listConfig(kind: string): Promise<ConfigEntry[]> {
    return this.json('GET', `/v1/config/${encodeURIComponent(kind)}`, z.array(configEntrySchema));
  }

  /** Returns false when a check-and-set delete lost the race. */
  async deleteConfig(kind: string, name: string, cas?: number): Promise<boolean> {
    const text = await this.send(
      'DELETE',
      `/v1/config/${encodeURIComponent(kind)}/${encodeURIComponent(name)}`,
      {
        query: { cas },
      },
    );
    return text.trim() !== 'false';
  }

  // ---- peering ----

  generatePeeringToken(request: GeneratePeeringTokenRequest): Promise<PeeringTokenResponse> {
    return this.json('POST', '/v1/peering/token', peeringTokenSchema, { body: request });
  }

  async establishPeering(request: EstablishPeeringRequest): Promise<void> {
    await this.send('POST', '/v1/peering/establish', { body: request });
  }

  listPeerings(): Promise<Peering[]> {
    return this.json('GET', '/v1/peerings', z.array(peeringSchema).nullable()).then((list) => list ?? []);
  }

  readPeering(name: string): Promise<Peering> {
    return this.json('GET', `/v1/peering/${encodeURIComponent(name)}`, peeringSchema);
  }

  async deletePeering(name: string): Promise<void> {
    await this.send('DELETE', `/v1/peering/${encodeURIComponent(name)}`);
  }

  // ---- transport ----

  /** Sends a request and parses the 2xx body as JSON matching `schema`. */
  async json<T>(
    method: Method,
    path: string,
    schema: z.ZodType<T>,
    options: { query?: Query; body?: unknown } = {},
  ): Promise<T> {
    const text = await this.send(method, path, options);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new CliError(
        `the server at ${this.address} answered ${method} ${path} with a body that is not JSON ` +
          `(is MESHPEER_HTTP_ADDR pointing at a meshpeer server?): ${truncate(text)}`,
      );
    }
    const result = schema.safeParse(parsed);
    if (!result.success) {
      throw new CliError(
        `unexpected answer from the server to ${method} ${path}: ${describeZodError(result.error)}`,
      );
    }
    return result.data;
  }

  /** Sends a request and returns the 2xx body as text; throws a CliError otherwise. */
  async send(method: Method, path: string, options: { query?: Query; body?: unknown } = {}): Promise<string> {
    const target = `${path}${queryString(options.query)}`;
    const headers: Record<string, string> = { 'User-Agent': 'meshpeer-cli' };
    if (this.token) headers['X-Consul-Token'] = this.token;
    if (options.body !== undefined) headers['Content-Type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(`${this.address}${target}`, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new ServerUnreachableError(this.address, transportReason(err, this.timeoutMs));
    }
    const text = await response.text();
    if (!response.ok) {
      throw new HttpStatusError(
        method,
        target,
        response.status,
        response.statusText,
        errorBody(text),
        this.statusHint(response.status),
      );
    }
    return text;
  }

  private statusHint(status: number): string {
    if (status !== 401 && status !== 403) return '';
    return this.token
      ? '; the token sent lacks the permission this needs'
      : '; no ACL token was sent: set MESHPEER_HTTP_TOKEN or pass --token';
  }
}

function queryString(query: Query | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== '') params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** The server answers errors as plain text; a JSON error object (e.g. from a framework) is reduced to its message. */
function errorBody(text: string): string {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{')) return trimmed;
  try {
    const parsed: unknown = JSON.parse(trimmed);
    if (parsed && typeof parsed === 'object' && 'message' in parsed && typeof parsed.message === 'string') {
      return parsed.message;
    }
  } catch {
    // not JSON after all: show it as it is
  }
  return trimmed;
}

const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed by the server',
  EPROTO: 'TLS/protocol error',
};

function transportReason(err: unknown, timeoutMs: number): string {
  if (err instanceof DOMException && err.name === 'TimeoutError') {
    return `no answer within ${Math.round(timeoutMs / 1000)}s`;
  }
  const cause = err instanceof Error ? err.cause : undefined;
  const code = errorCode(cause) ?? errorCode(err);
  if (code && REASONS[code]) return REASONS[code];
  if (cause instanceof Error && cause.message) return cause.message;
  return err instanceof Error ? err.message : String(err);
}

function errorCode(value: unknown): string | undefined {
  if (value && typeof value === 'object' && 'code' in value && typeof value.code === 'string')
    return value.code;
  // AggregateError (several addresses tried): report the first underlying code.
  if (value instanceof AggregateError) return errorCode(value.errors[0]);
  return undefined;
}

function truncate(text: string, max = 200): string {
  const flat = text.trim().replace(/\s+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max)}…` : flat || '(empty body)';
}
