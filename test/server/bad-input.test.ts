// Bad input gets a 4xx with a message, never a 500 or a crash: the cases one by one, then a bounded
// fuzz of mutated bodies, query strings and path segments against every write and read route.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';
import { request } from './support.js';

let server: ServerProcess;
let url: string;

beforeAll(async () => {
  server = await startServerProcess({ datacenter: 'dc-bad-input' });
  url = server.url;
  await api(`${url}/v1/catalog/register`, {
    method: 'PUT',
    json: {
      Node: 'fuzz-node',
      Address: '10.0.0.1',
      Service: { ID: 'web-1', Service: 'web', Port: 80 },
      Check: { Name: 'alive', Status: 'passing', ServiceID: 'web-1' },
    },
  });
  for (const entry of CONFIG_SEEDS) await api(`${url}/v1/config`, { method: 'PUT', json: entry });
});

afterAll(async () => {
  await server.stop();
});

async function stillServing(): Promise<void> {
  expect(server.child.exitCode).toBeNull();
  const r = await api(`${url}/v1/agent/self`);
  expect(r.status).toBe(200);
}

describe('bad input', () => {
  it('answers 400 with a message for a body that is not JSON', async () => {
    for (const body of ['{bad', '{"Node": "x",}', '[1, 2', 'undefined', '\u0000']) {
      const r = await request(`${url}/v1/catalog/register`, { method: 'PUT', body });
      expect(r.status, body).toBe(400);
      expect(r.text, body).toMatch(/Request decode failed: body is not valid JSON/);
    }
  });

  it('answers 400 naming the field for wrong field types', async () => {
    const cases: Array<[string, unknown, string]> = [
      ['/v1/catalog/register', { Node: 1, Address: '10.0.0.1' }, 'Node'],
      [
        '/v1/catalog/register',
        { Node: 'n', Address: '10.0.0.1', Service: { Service: 'x', Port: '80' } },
        'Port',
      ],
      [
        '/v1/catalog/register',
        { Node: 'n', Address: '10.0.0.1', Service: { Service: 'x', Tags: 'a' } },
        'Tags',
      ],
      [
        '/v1/catalog/register',
        { Node: 'n', Address: '10.0.0.1', Checks: [{ Name: 'c', Status: 'ok' }] },
        'Status',
      ],
      ['/v1/catalog/deregister', { Node: ['n'] }, 'Node'],
      ['/v1/agent/service/register', { Name: 'x', Port: 70000 }, 'Port'],
      ['/v1/agent/service/register', { Name: 'x', Meta: { a: 1 } }, 'Meta'],
      ['/v1/agent/service/register', { ID: 'no-name' }, 'Name'],
      ['/v1/config', { Kind: 'mesh', Name: 'mesh', Peering: { PeerThroughMeshGateways: 1 } }, 'Peering'],
    ];
    for (const [path, body, field] of cases) {
      const r = await api(`${url}${path}`, { method: 'PUT', json: body });
      expect(r.status, `${path} ${JSON.stringify(body)}`).toBe(400);
      expect(r.text, `${path} ${JSON.stringify(body)}`).toContain(field);
    }
    const notObject = await api(`${url}/v1/catalog/register`, { method: 'PUT', json: [1, 2] });
    expect(notObject.status).toBe(400);
    expect(notObject.text).toContain('JSON object');
  });

  it('answers 400 for bad query parameters, naming the parameter', async () => {
    const cases: Array<[string, string]> = [
      ['/v1/catalog/services?index=abc', 'index'],
      ['/v1/catalog/services?index=-1', 'index'],
      ['/v1/catalog/services?index=99999999999999999999999', 'index'],
      ['/v1/catalog/services?index=1&index=2', 'index'],
      ['/v1/health/service/web?index=1&wait=later', 'wait'],
      ['/v1/health/service/web?passing=perhaps', 'passing'],
      ['/v1/health/service/web?filter=Service.Port%20%3D%3D', 'filter'],
      ['/v1/config/service-resolver/web?cas=x', 'cas'],
    ];
    for (const [path, param] of cases) {
      const method = path.includes('cas=') ? 'DELETE' : 'GET';
      const r = await api(`${url}${path}`, { method });
      expect(r.status, path).toBe(400);
      expect(r.text, path).toContain(param);
    }
  });

  it('answers 404 for missing things and unknown endpoints', async () => {
    const cases: Array<[string, string]> = [
      ['GET', '/v1/config/service-resolver/missing'],
      ['PUT', '/v1/agent/service/deregister/missing'],
      ['PUT', '/v1/agent/check/pass/missing'],
      ['GET', '/v1/no/such/endpoint'],
      ['GET', '/v2/catalog/services'],
    ];
    for (const [method, path] of cases) {
      const r = await api(`${url}${path}`, { method });
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(r.text.length, `${method} ${path}`).toBeGreaterThan(0);
    }
    const dereg = await api(`${url}/v1/catalog/deregister`, { method: 'PUT', json: { Node: 'missing' } });
    expect(dereg.status).toBe(404);
  });

  it('answers 405 with an Allow header for the wrong method', async () => {
    const cases: Array<[string, string, string]> = [
      ['POST', '/v1/catalog/services', 'GET'],
      ['DELETE', '/v1/catalog/register', 'PUT'],
      ['GET', '/v1/catalog/register', 'PUT'],
      ['GET', '/v1/agent/service/register', 'PUT'],
      ['PUT', '/v1/health/service/web', 'GET'],
      ['POST', '/v1/config/mesh/mesh', 'DELETE'],
      ['PATCH', '/v1/config', 'PUT'],
    ];
    for (const [method, path, allowed] of cases) {
      const r = await api(`${url}${path}`, { method });
      expect(r.status, `${method} ${path}`).toBe(405);
      expect(r.headers.get('allow'), `${method} ${path}`).toContain(allowed);
      expect(r.text, `${method} ${path}`).toContain('not allowed');
    }
  });

  it('answers 413 for a body over the limit, and keeps serving', async () => {
    const big = JSON.stringify({ Node: 'n', Address: 'a', NodeMeta: { pad: 'x'.repeat(2 * 1024 * 1024) } });
    // Sent as curl sends a large body (Expect: 100-continue): sent eagerly, the server's answer and its
    // close could race the 2 MB upload and reach the client as EPIPE instead of the 413.
    const r = await request(`${url}/v1/catalog/register`, {
      method: 'PUT',
      body: big,
      headers: { expect: '100-continue' },
    });
    expect(r.status).toBe(413);
    expect(r.text).toMatch(/too large/i);
    // A body within the limit sent the same way is taken as usual.
    const small = await request(`${url}/v1/catalog/register`, {
      method: 'PUT',
      body: JSON.stringify({ Node: 'continue-node', Address: '10.0.0.7' }),
      headers: { expect: '100-continue' },
    });
    expect(small.status, small.text).toBe(200);
    await stillServing();
  });

  it('answers 400, not 500, for bodies nested too deeply or holding invalid Unicode', async () => {
    const deep = `{"Node":"n","Address":"a","Service":{"Service":"s","Proxy":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}}}`;
    const d = await request(`${url}/v1/catalog/register`, { method: 'PUT', body: deep });
    expect(d.status).toBe(400);
    expect(d.text).toContain('nested');
    const deepArray = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    expect((await request(`${url}/v1/config`, { method: 'PUT', body: deepArray })).status).toBe(400);
    // "\ud800" is a lone surrogate: valid JSON, but not a string that can be stored or put in a URL.
    for (const [path, body] of [
      ['/v1/catalog/register', '{"Node":"n\\ud800","Address":"a"}'],
      ['/v1/config', '{"Kind":"service-resolver","Name":"x\\udc00y"}'],
      ['/v1/agent/service/register', '{"Name":"ok","Meta":{"\\ud800":"v"}}'],
    ] as const) {
      const r = await request(`${url}${path}`, { method: 'PUT', body });
      expect(r.status, body).toBe(400);
      expect(r.text, body).toContain('Unicode');
    }
    // A paired surrogate (an emoji) is fine.
    const emoji = await api(`${url}/v1/catalog/register`, {
      method: 'PUT',
      json: { Node: 'node-😀', Address: '10.0.0.9', Service: { Service: 'svc-😀', Port: 1 } },
    });
    expect(emoji.status).toBe(200);
    const h = await api<unknown[]>(`${url}/v1/health/service/${encodeURIComponent('svc-😀')}`);
    expect(h.body).toHaveLength(1);
    await stillServing();
  });
});

// ---- fuzz ----

const CONFIG_SEEDS = [
  {
    Kind: 'exported-services',
    Name: 'default',
    Services: [{ Name: 'web', Consumers: [{ Peer: 'cluster-02' }] }],
  },
  { Kind: 'mesh', Name: 'mesh', Peering: { PeerThroughMeshGateways: true } },
  { Kind: 'proxy-defaults', Name: 'global', MeshGateway: { Mode: 'local' }, Config: { protocol: 'http' } },
  {
    Kind: 'service-intentions',
    Name: 'web',
    Sources: [{ Name: 'frontend', Peer: 'cluster-02', Action: 'allow' }],
  },
  {
    Kind: 'service-resolver',
    Name: 'web',
    ConnectTimeout: '5s',
    Failover: { '*': { Targets: [{ Peer: 'cluster-02' }] } },
  },
];

const WRITE_SEEDS: Array<{ method: string; path: string; seeds: unknown[] }> = [
  {
    method: 'PUT',
    path: '/v1/catalog/register',
    seeds: [
      {
        Node: 'fuzz-node',
        Address: '10.0.0.1',
        TaggedAddresses: { lan: '10.0.0.1' },
        NodeMeta: { rack: 'r1' },
        Service: {
          ID: 'web-1',
          Service: 'web',
          Port: 80,
          Tags: ['a'],
          Meta: { v: '1' },
          Weights: { Passing: 1, Warning: 1 },
          Kind: 'connect-proxy',
          Proxy: { DestinationServiceName: 'web' },
        },
        Check: { Name: 'alive', Status: 'passing', ServiceID: 'web-1' },
        Checks: [{ CheckID: 'serfHealth', Name: 'node', Status: 'passing' }],
      },
    ],
  },
  {
    method: 'PUT',
    path: '/v1/catalog/deregister',
    seeds: [
      { Node: 'fuzz-node', ServiceID: 'web-1' },
      { Node: 'fuzz-node', CheckID: 'serfHealth' },
    ],
  },
  {
    method: 'PUT',
    path: '/v1/agent/service/register',
    seeds: [
      {
        Name: 'api',
        ID: 'api-1',
        Port: 9000,
        Tags: ['blue'],
        Meta: { team: 'x' },
        Check: { TTL: '10s', Status: 'passing' },
        Checks: [{ HTTP: 'http://127.0.0.1/health', Interval: '10s' }],
        Connect: { Native: true },
      },
    ],
  },
  {
    method: 'PUT',
    path: '/v1/agent/check/update/service:api-1',
    seeds: [{ Status: 'passing', Output: 'ok' }],
  },
  { method: 'PUT', path: '/v1/config', seeds: CONFIG_SEEDS },
];

const READ_PATHS = [
  '/v1/catalog/services',
  '/v1/catalog/nodes',
  '/v1/catalog/service/web',
  '/v1/health/service/web',
  '/v1/health/connect/web',
  '/v1/health/checks/web',
  '/v1/config/service-resolver',
  '/v1/config/service-resolver/web',
  '/v1/agent/self',
  '/v1/agent/metrics',
];

/** mulberry32: a small seeded PRNG, so a failing case can be reproduced from the printed seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

class Fuzzer {
  constructor(readonly rand: () => number) {}

  int(n: number): number {
    return Math.floor(this.rand() * n);
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  string(): string {
    return this.pick([
      () => '',
      () => 'x',
      () => 'a'.repeat(this.int(2000)),
      () => '😀',
      () => 'é/..%2F?#&=',
      () => '\u0000\u0001\u001f',
      () => '\ud83d\ude00\u200b\uffff',
      () => 'lone \ud800 surrogate',
      () => '__proto__',
      () => 'constructor',
      () => 'passing',
      () => '*',
      () => '10s',
      () => String(this.rand()),
      () => Array.from({ length: this.int(20) }, () => String.fromCharCode(32 + this.int(0x2000))).join(''),
    ])();
  }

  value(depth = 0): Json {
    const kinds: Array<() => Json> = [
      () => null,
      () => this.rand() < 0.5,
      () =>
        this.pick([0, -1, 1, 1.5, -0, 65535, 65536, 2 ** 31, 2 ** 53 + 1, 1e308, -1e308, Number.MIN_VALUE]),
      () => this.string(),
      () => (depth > 3 ? [] : Array.from({ length: this.int(4) }, () => this.value(depth + 1))),
      () => {
        if (depth > 3) return {};
        const o: { [k: string]: Json } = {};
        for (let i = this.int(4); i > 0; i--) o[this.string()] = this.value(depth + 1);
        return o;
      },
      () => {
        // Nest an array well past the body's depth limit.
        let v: Json = 1;
        for (let i = 0; i < 10 + this.int(200); i++) v = [v];
        return v;
      },
    ];
    return this.pick(kinds)();
  }

  /** A copy of `seed` with one to three random changes: replace, delete or add a field anywhere. */
  mutate(seed: unknown): Json {
    const copy = JSON.parse(JSON.stringify(seed)) as Json;
    let root = copy;
    for (let n = 1 + this.int(3); n > 0; n--) {
      const containers: Array<{ [k: string]: Json } | Json[]> = [];
      const walk = (v: Json): void => {
        if (v !== null && typeof v === 'object') {
          containers.push(v);
          for (const c of Array.isArray(v) ? v : Object.values(v)) walk(c);
        }
      };
      walk(root);
      if (containers.length === 0 || this.rand() < 0.05) {
        root = this.value();
        continue;
      }
      const target = this.pick(containers);
      if (Array.isArray(target)) {
        if (target.length > 0 && this.rand() < 0.5) target[this.int(target.length)] = this.value();
        else target.push(this.value());
        continue;
      }
      const keys = Object.keys(target);
      const op = this.int(3);
      if (op === 0 && keys.length > 0) target[this.pick(keys)] = this.value();
      else if (op === 1 && keys.length > 0) delete target[this.pick(keys)];
      else
        target[this.rand() < 0.5 ? this.string() : this.pick(['ID', 'Name', 'Kind', 'Port', 'Meta'])] =
          this.value();
    }
    return root;
  }

  /** A body: a mutated seed, usually as JSON, sometimes damaged text. */
  body(seed: unknown): string {
    const text = JSON.stringify(this.mutate(seed));
    switch (this.int(8)) {
      case 0:
        return text.slice(0, this.int(text.length + 1));
      case 1: {
        const i = this.int(text.length + 1);
        return text.slice(0, i) + String.fromCharCode(this.int(256)) + text.slice(i);
      }
      case 3:
        // JSON.parse makes "__proto__" an own key; it must not reach an object's prototype.
        return text.startsWith('{') ? `{"__proto__":${JSON.stringify(this.value())},${text.slice(1)}` : text;
      case 2:
        return Buffer.from(Array.from({ length: this.int(64) }, () => this.int(256))).toString('latin1');
      default:
        return text;
    }
  }

  query(): string {
    const keys = [
      'index',
      'wait',
      'passing',
      'tag',
      'peer',
      'filter',
      'dc',
      'stale',
      'cas',
      'near',
      'ns',
      'x',
    ];
    const values = [
      '',
      '0',
      '1',
      '-1',
      'abc',
      '1.5',
      '1e3',
      '99999999999999999999999',
      '0x10',
      '%00',
      '%ff',
      '%E2%82',
      'true',
      'false',
      '10s',
      '5m',
      '1h',
      '-1s',
      '1ms',
      '%F0%9F%98%80',
      'a%26b%3Dc',
      'x'.repeat(500),
    ];
    const parts: string[] = [];
    for (let n = this.int(5); n > 0; n--) {
      const k = this.pick(keys);
      parts.push(this.rand() < 0.1 ? k : `${k}=${this.pick(values)}`);
    }
    // A valid index far ahead of the store would block for the whole wait: pair it with a short one.
    if (this.rand() < 0.1) parts.push('index=9007199254740991', `wait=${this.pick(['1ms', '10ms', '0s'])}`);
    return parts.length === 0 ? '' : `?${parts.join('&')}`;
  }

  segment(): string {
    return this.pick([
      // Percent-encode the UTF-8 bytes (a lone surrogate becomes U+FFFD, as any client sends it).
      () => [...Buffer.from(this.string())].map((b) => `%${b.toString(16).padStart(2, '0')}`).join(''),
      () => this.pick(['%', '%ff', '%E2%82', '..', '.', '%2F', '%00', 'a%20b', '*']),
      () => 'y'.repeat(this.int(3000)),
    ])();
  }
}

interface Failure {
  method: string;
  path: string;
  body?: string;
  status: number;
  text: string;
}

/** Sends the requests with a few in flight; returns the ones answered with 5xx (or not at all). */
async function sendAll(
  reqs: Array<{ method: string; path: string; body?: string }>,
  concurrency = 8,
): Promise<Failure[]> {
  const failures: Failure[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < reqs.length) {
      const r = reqs[next++]!;
      try {
        const res = await request(`${url}${r.path}`, {
          method: r.method,
          ...(r.body !== undefined ? { body: r.body } : {}),
          signal: AbortSignal.timeout(10_000),
        });
        if (res.status >= 500 || res.status === 0)
          failures.push({ ...r, status: res.status, text: res.text });
      } catch (err) {
        failures.push({ ...r, status: 0, text: String(err) });
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return failures;
}

const SEED = Number(process.env.MESHPEER_FUZZ_SEED ?? Date.now() % 1_000_000);
const PER_ROUTE = 300;

describe('bounded fuzz (seed in the test name; rerun with MESHPEER_FUZZ_SEED)', () => {
  it(`no mutated body on any write route gets a 5xx or stops the server (seed ${SEED})`, async () => {
    const f = new Fuzzer(prng(SEED));
    const reqs: Array<{ method: string; path: string; body?: string }> = [];
    for (const route of WRITE_SEEDS) {
      for (let i = 0; i < PER_ROUTE; i++) {
        reqs.push({ method: route.method, path: route.path, body: f.body(f.pick(route.seeds)) });
      }
    }
    const failures = await sendAll(reqs);
    expect(failures.slice(0, 5)).toEqual([]);
    await stillServing();
  });

  it(`no query string or path segment on any read or write route gets a 5xx (seed ${SEED})`, async () => {
    const f = new Fuzzer(prng(SEED + 1));
    const reqs: Array<{ method: string; path: string; body?: string }> = [];
    for (const path of READ_PATHS) {
      // The metrics endpoints ignore the query and cost milliseconds each: fewer of them.
      const n = path.startsWith('/v1/agent/') ? PER_ROUTE / 6 : PER_ROUTE;
      for (let i = 0; i < n; i++) reqs.push({ method: 'GET', path: `${path}${f.query()}` });
    }
    for (let i = 0; i < PER_ROUTE; i++) {
      const kind = f.rand() < 0.7 ? f.pick(CONFIG_SEEDS).Kind : f.segment();
      reqs.push({ method: 'GET', path: `/v1/config/${kind}/${f.segment()}${f.query()}` });
      reqs.push({ method: 'DELETE', path: `/v1/config/${kind}/${f.segment()}${f.query()}` });
      reqs.push({ method: 'GET', path: `/v1/health/service/${f.segment()}${f.query()}` });
      reqs.push({ method: 'GET', path: `/v1/catalog/service/${f.segment()}${f.query()}` });
      reqs.push({ method: 'PUT', path: `/v1/agent/service/deregister/${f.segment()}` });
      reqs.push({ method: 'PUT', path: `/v1/agent/check/pass/${f.segment()}${f.query()}` });
      reqs.push({
        method: 'PUT',
        path: `/v1/config${f.query()}`,
        body: JSON.stringify(f.pick(CONFIG_SEEDS)),
      });
    }
    const failures = await sendAll(reqs);
    expect(failures.slice(0, 5)).toEqual([]);
    await stillServing();
  });
});
