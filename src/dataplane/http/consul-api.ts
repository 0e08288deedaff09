// A small client of the server's Consul-compatible HTTP API for the data plane: GETs that can block
// (`?index=N&wait=30s`, answered with `X-Consul-Index`), the agent registration PUTs, and ACL login/logout.
import { unavailable } from '../../shared/errors.js';
import { fetchWithCa } from './fetch-with-ca.js';

export interface ConsulApiOptions {
  /** http(s)://host:port of a meshpeer server. */
  address: string;
  /** ACL token, sent as X-Consul-Token. */
  token?: string;
  /** PEM of a CA to trust for an https address, beside the system's. */
  caPem?: string;
}

export interface ApiResponse {
  status: number;
  /** Parsed JSON; undefined for a 404. */
  body: unknown;
  /** X-Consul-Index, 0 when absent. */
  index: number;
}

export interface BlockingOptions {
  index?: number;
  waitSeconds?: number;
  signal?: AbortSignal;
  /** Error statuses that are an answer (body: the text) rather than a failure, e.g. 403. */
  answerStatuses?: readonly number[];
}

const SLACK_MS = 10_000;

export interface LoginToken {
  AccessorID: string;
  SecretID: string;
}

export class ConsulApi {
  readonly address: string;
  private readonly token: string | undefined;
  private readonly caPem: string | undefined;

  constructor(options: ConsulApiOptions) {
    this.address = options.address.replace(/\/+$/, '');
    this.token = options.token || undefined;
    this.caPem = options.caPem || undefined;
  }

  /** A GET, blocking when `index` is given; 404 is an answer (body undefined), not an error. */
  async get(path: string, options: BlockingOptions = {}): Promise<ApiResponse> {
    const url = new URL(`${this.address}${path}`);
    const waitSeconds = options.waitSeconds ?? 30;
    if (options.index) {
      url.searchParams.set('index', String(options.index));
      url.searchParams.set('wait', `${waitSeconds}s`);
    }
    // The server may hold the request for `wait` plus up to wait/16 of jitter, as Consul does.
    const timeout = AbortSignal.timeout(waitSeconds * 1000 * (17 / 16) + SLACK_MS);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    const response = await this.request('GET', url, undefined, signal);
    const index = Number(response.headers.get('x-consul-index') ?? 0);
    const text = await response.text();
    if (response.status === 404)
      return { status: 404, body: undefined, index: Number.isFinite(index) ? index : 0 };
    if (!response.ok && options.answerStatuses?.includes(response.status))
      return { status: response.status, body: text.trim(), index: 0 };
    if (!response.ok)
      throw unavailable(`GET ${path}: HTTP ${response.status}: ${text.trim() || response.statusText}`);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw unavailable(`GET ${path}: the answer is not JSON`);
    }
    return { status: response.status, body, index: Number.isFinite(index) ? index : 0 };
  }

  /** The server's datacenter, from /v1/agent/self. */
  async datacenter(): Promise<string> {
    const { body } = await this.get('/v1/agent/self');
    const config = (body as { Config?: { Datacenter?: unknown } } | undefined)?.Config;
    if (typeof config?.Datacenter !== 'string') throw unavailable('GET /v1/agent/self: no Config.Datacenter');
    return config.Datacenter;
  }

  async put(path: string, body?: unknown): Promise<void> {
    const response = await this.request(
      'PUT',
      new URL(`${this.address}${path}`),
      body,
      AbortSignal.timeout(SLACK_MS),
    );
    if (!response.ok) {
      throw unavailable(`PUT ${path}: HTTP ${response.status}: ${(await response.text()).trim()}`);
    }
  }

  /**
   * POST /v1/acl/login: exchanges a bearer token (a pod's service-account JWT) with an auth method for
   * an ACL token; a refusal is an error with the server's reason.
   */
  async login(
    authMethod: string,
    bearerToken: string,
    meta: Record<string, string> = {},
  ): Promise<LoginToken> {
    const body = {
      AuthMethod: authMethod,
      BearerToken: bearerToken,
      ...(Object.keys(meta).length ? { Meta: meta } : {}),
    };
    const response = await this.request(
      'POST',
      new URL(`${this.address}/v1/acl/login`),
      body,
      AbortSignal.timeout(SLACK_MS),
    );
    const text = await response.text();
    if (!response.ok) {
      throw unavailable(
        `ACL login with auth method ${JSON.stringify(authMethod)}: HTTP ${response.status}: ${text.trim()}`,
      );
    }
    const token = JSON.parse(text) as Partial<LoginToken>;
    if (typeof token.SecretID !== 'string' || typeof token.AccessorID !== 'string') {
      throw unavailable('ACL login: the answer has no AccessorID and SecretID');
    }
    return { AccessorID: token.AccessorID, SecretID: token.SecretID };
  }

  /** POST /v1/acl/logout with a login token: the server deletes it. */
  async logout(secret: string): Promise<void> {
    const response = await this.request(
      'POST',
      new URL(`${this.address}/v1/acl/logout`),
      undefined,
      AbortSignal.timeout(SLACK_MS),
      secret,
    );
    if (!response.ok)
      throw unavailable(`ACL logout: HTTP ${response.status}: ${(await response.text()).trim()}`);
  }

  private async request(
    method: string,
    url: URL,
    body: unknown,
    signal: AbortSignal,
    token = this.token,
  ): Promise<Response> {
    const headers: Record<string, string> = {};
    if (token) headers['X-Consul-Token'] = token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    try {
      const init = { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal };
      if (this.caPem !== undefined && url.protocol === 'https:')
        return await fetchWithCa(url, init, this.caPem);
      return await fetch(url, init);
    } catch (err) {
      if (signal.aborted && (signal.reason as Error | undefined)?.name !== 'TimeoutError') throw err;
      const cause = (err as Error).cause as Error | undefined;
      throw unavailable(
        `${method} ${url.pathname} on ${this.address}: ${cause?.message ?? (err as Error).message}`,
      );
    }
  }
}
