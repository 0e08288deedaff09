// Helpers of the data-plane attack tests: real `meshpeer gateway` and `meshpeer proxy` processes (from
// dist/) next to real servers, their Prometheus counters, and workload leaves as a server issues them.
import { type ChildProcess, spawn } from 'node:child_process';
import { expect } from 'vitest';
import type { Endpoint } from '../../src/dataplane/endpoint.js';
import type { ProxyLeaf } from '../../src/dataplane/proxy/index.js';
import { freePort } from '../../src/shared/testing/free-port.js';
import { metricValue } from '../server/support.js';
import { api, CLI, eventually } from '../support/meshpeer-process.js';

export { freePort } from '../../src/shared/testing/free-port.js';

export interface DataplaneProcess {
  child: ChildProcess;
  /** The address it accepts connections on, from its "listening" line. */
  address: Endpoint;
  /** Where its /metrics is served. */
  metrics: Endpoint;
  /** stderr lines (JSON logs and the "listening" lines). */
  logs: string[];
  stop(): Promise<void>;
}

const READY: Record<'gateway' | 'proxy', RegExp> = {
  gateway: /^mesh gateway listening on (\S+):(\d+)$/,
  proxy: /^sidecar for \S+: inbound mTLS on (\S+):(\d+)$/,
};

/** Starts `meshpeer gateway|proxy <args>` with metrics on a free port; resolves once it listens. */
export async function startDataplaneProcess(
  kind: 'gateway' | 'proxy',
  args: string[],
  env: Record<string, string> = {},
): Promise<DataplaneProcess> {
  const metrics = { host: '127.0.0.1', port: await freePort() };
  const child = spawn(
    process.execPath,
    // No drain unless `args` ask for one (a later value wins).
    [CLI, kind, '--drain-seconds', '0', ...args, '--metrics', `${metrics.host}:${metrics.port}`],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, MESHPEER_LOG_LEVEL: 'info', ...env } },
  );
  const logs: string[] = [];
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const address = await new Promise<Endpoint>((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${kind} did not start in 30s:\n${logs.join('\n')}`));
    }, 30_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        logs.push(line);
        const m = READY[kind].exec(line);
        if (m) {
          clearTimeout(timer);
          resolve({ host: m[1] as string, port: Number(m[2]) });
        }
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${kind} exited (${code ?? signal}) before listening:\n${logs.join('\n')}`));
    });
  });
  return {
    child,
    address,
    metrics,
    logs,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A counter of a data-plane process, summed over the label sets that match (0 when absent). */
export async function counter(
  p: DataplaneProcess,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`http://${p.metrics.host}:${p.metrics.port}/metrics`)).text();
  const value = metricValue(text, name, labels);
  return Number.isNaN(value) ? 0 : value;
}

/** Inbound connections a sidecar closed before they reached its app, whatever the reason. */
export const sidecarRefusals = (p: DataplaneProcess, reason?: string): Promise<number> =>
  counter(p, 'meshpeer_proxy_inbound_refused_total', reason ? { reason } : {});

/** A workload leaf for `service`, as the server of its cluster issues it to its sidecar. */
export async function leafFrom(url: string, service: string, token?: string): Promise<ProxyLeaf> {
  const res = await api<{ CertPEM: string; PrivateKeyPEM: string; SerialNumber: string }>(
    `${url}/v1/agent/connect/ca/leaf/${service}`,
    token ? { headers: { 'X-Consul-Token': token } } : {},
  );
  expect(res.status, res.text).toBe(200);
  return { certPem: res.body.CertPEM, keyPem: res.body.PrivateKeyPEM, serialNumber: res.body.SerialNumber };
}

/** A cluster's trust domain and root certificates. */
export async function caOf(
  url: string,
  token?: string,
): Promise<{ trustDomain: string; rootPems: string[] }> {
  const res = await api<{ TrustDomain: string; Roots: { RootCert: string }[] }>(
    `${url}/v1/connect/ca/roots`,
    token ? { headers: { 'X-Consul-Token': token } } : {},
  );
  expect(res.status, res.text).toBe(200);
  return { trustDomain: res.body.TrustDomain, rootPems: res.body.Roots.map((r) => r.RootCert) };
}

/** The JSON log records of a process whose `msg` matches. */
export function logRecords(p: DataplaneProcess, msg: RegExp): Record<string, unknown>[] {
  return p.logs.flatMap((line) => {
    try {
      const rec = JSON.parse(line) as Record<string, unknown>;
      return typeof rec.msg === 'string' && msg.test(rec.msg) ? [rec] : [];
    } catch {
      return [];
    }
  });
}

/**
 * The newest record whose msg matches, once it satisfies `ready`. Waits for it: the log comes through a
 * pipe, and may arrive after the process's metrics already count what it reports.
 */
export async function newestLogRecord(
  p: DataplaneProcess,
  msg: RegExp,
  ready: (record: Record<string, unknown>) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<Record<string, unknown>> {
  return await eventually(async () => {
    const record = logRecords(p, msg).at(-1);
    return record && ready(record) ? record : undefined;
  }, timeoutMs);
}
