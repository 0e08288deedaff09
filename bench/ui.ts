// Web UI: page load to first render of the Peers page (navigation start to the peering's row drawn,
// in headless Chromium), and the CPU of the server the pages are open on while 1,000 imported services
// change, with 10 open Peers pages (each following /v1/peerings with blocking queries) against the same
// churn with none open. Needs Debian's chromium (bash scripts/chromium.sh).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { cpuTimeMs, percentile, runWhenInvokedDirectly } from './support/measure.js';
import { type BenchServer, startBenchServer } from './support/server-process.js';

const CHROMIUM = process.env.MESHPEER_CHROMIUM ?? '/usr/bin/chromium';
const SERVICES = Number(process.env.MESHPEER_BENCH_UI_SERVICES ?? 1000);
const PAGES = Number(process.env.MESHPEER_BENCH_UI_PAGES ?? 10);
const CHURN_S = Number(process.env.MESHPEER_BENCH_UI_CHURN_S ?? 20);
const LOADS = 10;

async function call(s: BenchServer, method: string, path: string, body?: unknown): Promise<unknown> {
  const r = await fetch(`${s.url}${path}`, {
    method,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return text === '' ? undefined : JSON.parse(text);
}

async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

const register = (s: BenchServer, i: number, port: number) =>
  call(s, 'PUT', '/v1/catalog/register', {
    Node: `node-${i % 20}`,
    Address: `10.9.${i % 20}.1`,
    Service: { ID: `svc-${i}`, Service: `svc-${i}`, Port: port },
    Checks: [{ CheckID: `svc-${i}-up`, Name: 'up', Status: 'passing', ServiceID: `svc-${i}` }],
  });

/** Re-registers every service once (a new port each time), spread evenly over `seconds`. */
async function churn(s: BenchServer, seconds: number, round: number): Promise<number> {
  const t0 = performance.now();
  const perMs = SERVICES / (seconds * 1000);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= SERVICES) return;
      const due = t0 + i / perMs;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await register(s, i, 20_000 + round);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return performance.now() - t0;
}

async function openPeers(context: BrowserContext, b: BenchServer): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${b.url}/ui/#/peers`);
  await page.waitForSelector(`tr[data-peer="exporter"] td.imported:text("${SERVICES}")`, { timeout: 30_000 });
  return page;
}

export async function main(): Promise<void> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium with bash scripts/chromium.sh`);
  }
  const servers: BenchServer[] = [];
  const profile = mkdtempSync(join(tmpdir(), 'meshpeer-bench-chromium-'));
  let context: BrowserContext | undefined;
  try {
    const [a, b] = await Promise.all([startBenchServer('ui-exporter'), startBenchServer('ui-importer')]);
    servers.push(a, b);
    const { PeeringToken } = (await call(a, 'POST', '/v1/peering/token', { PeerName: 'importer' })) as {
      PeeringToken: string;
    };
    await call(b, 'POST', '/v1/peering/establish', { PeerName: 'exporter', PeeringToken });
    for (let i = 0; i < SERVICES; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, SERVICES - i) }, (_, k) => register(a, i + k, 20_000)),
      );
    }
    await call(a, 'PUT', '/v1/config', {
      Kind: 'exported-services',
      Name: 'default',
      Services: [{ Name: '*', Consumers: [{ Peer: 'importer' }] }],
    });
    await until('all services imported', async () => {
      const p = (await call(b, 'GET', '/v1/peering/exporter')) as {
        StreamStatus: { ImportedServices: string[] };
      };
      return p.StreamStatus.ImportedServices.length === SERVICES;
    });

    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1280, height: 800 },
    });

    // Page load to first render: a fresh page each time (the files revalidate by ETag after the first).
    const firstRender: number[] = [];
    for (let i = 0; i < LOADS; i++) {
      const page = await openPeers(context, b);
      firstRender.push((await page.evaluate('performance.now()')) as number);
      await page.close();
    }
    const r = await fetch(`${b.url}/ui/app.js`);
    const bundle = (await r.arrayBuffer()).byteLength;
    process.stdout.write(
      `ui first render (Peers page, ${SERVICES} imported services, ${LOADS} loads): ` +
        `p50 ${percentile(firstRender, 0.5).toFixed(0)} ms, p90 ${percentile(firstRender, 0.9).toFixed(0)} ms ` +
        `from navigation start; app.js ${(bundle / 1024).toFixed(1)} KiB\n`,
    );

    // Server CPU while every service changes once, without and with open pages.
    let apiRequests = 0;
    context.on('request', (req) => {
      if (req.url().startsWith(`${b.url}/v1/`)) apiRequests++;
    });
    const results: Array<{ pages: number; cpuPct: number; reqPerPageS: number }> = [];
    let round = 1;
    for (const pages of [0, PAGES]) {
      const open: Page[] = [];
      for (let i = 0; i < pages; i++) open.push(await openPeers(context, b));
      await new Promise((r) => setTimeout(r, 2000));
      const cpu0 = cpuTimeMs(b.pid);
      const req0 = apiRequests;
      const wallMs = await churn(a, CHURN_S, round++);
      const cpuPct = ((cpuTimeMs(b.pid) - cpu0) / wallMs) * 100;
      const reqPerPageS = pages === 0 ? 0 : (apiRequests - req0) / pages / (wallMs / 1000);
      results.push({ pages, cpuPct, reqPerPageS });
      for (const p of open) await p.close();
    }
    const [idle, busy] = results as [(typeof results)[0], (typeof results)[0]];
    process.stdout.write(
      `ui server CPU while ${SERVICES} imported services change over ${CHURN_S} s: ` +
        `${idle.cpuPct.toFixed(1)}% with no page open, ${busy.cpuPct.toFixed(1)}% with ${PAGES} open Peers pages ` +
        `(+${(busy.cpuPct - idle.cpuPct).toFixed(1)} points); each page made ${busy.reqPerPageS.toFixed(2)} API requests/s ` +
        '(blocking queries)\n',
    );
  } finally {
    await context?.close().catch(() => undefined);
    rmSync(profile, { recursive: true, force: true });
    await Promise.all(servers.map((s) => s.stop()));
  }
}

runWhenInvokedDirectly(import.meta.url, main);
