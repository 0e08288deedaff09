// Shared by the peering end-to-end tests: real `meshpeer server` processes on loopback with short
// heartbeat/redial settings, and small helpers to peer them, register, export and read imports.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  api,
  eventually,
  type ServerProcess,
  type StartOptions,
  startServerProcess,
} from '../support/meshpeer-process.js';

export { api, eventually, type ServerProcess };

/** Fast peering timings so failures and recoveries show within a couple of seconds. */
export const FAST_PEERING = [
  '--peering-heartbeat-interval',
  '200ms',
  '--peering-heartbeat-timeout',
  '1500ms',
  '--peering-redial-max',
  '1s',
];

export interface Peering {
  ID: string;
  Name: string;
  State: string;
  PeerID: string;
  PeerServerName: string;
  PeerServerAddresses: string[];
  PeerCAPems: string[];
  Remote: { Datacenter: string; Partition: string };
  Meta: Record<string, string>;
  CreateIndex: number;
  ModifyIndex: number;
  Role?: string;
  Reason?: string;
  StreamStatus: {
    ImportedServices: string[];
    ExportedServices: string[];
    LastHeartbeat?: string;
    LastReceive?: string;
    LastSend?: string;
    LastError?: string;
    LastNackMessage?: string;
    Warnings?: string[];
  };
}

export interface HealthEntry {
  Node: { Node: string; Address: string; PeerName?: string };
  Service: {
    ID: string;
    Service: string;
    Address: string;
    Port: number;
    Tags: string[];
    Meta: Record<string, string>;
    PeerName?: string;
  };
  Checks: Array<{ CheckID: string; Status: string; ServiceID: string; PeerName?: string }>;
}

/** Owns every process and directory a test file starts, so afterAll can stop them all. */
export class Cluster {
  private readonly procs = new Set<ServerProcess>();
  private readonly dirs = new Set<string>();
  private stopped = false;

  async start(datacenter: string, opts: StartOptions = {}): Promise<ServerProcess> {
    const p = await startServerProcess({
      datacenter,
      ...opts,
      extraArgs: [...FAST_PEERING, ...(opts.extraArgs ?? [])],
    });
    // A start that finishes after the file's teardown (a sibling in Promise.all failed) must not leak.
    if (this.stopped) {
      await p.kill();
      throw new Error(`${datacenter}: started after the test cluster was stopped`);
    }
    this.procs.add(p);
    return p;
  }

  /** A data directory that survives kill/stop of the process (removed in stopAll). */
  dir(): string {
    const d = mkdtempSync(join(tmpdir(), 'meshpeer-peering-'));
    this.dirs.add(d);
    return d;
  }

  async stopAll(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.procs].map((p) => p.kill()));
    this.procs.clear();
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
    this.dirs.clear();
  }
}

export async function generateToken(
  acceptor: ServerProcess,
  peerName: string,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const r = await api<{ PeeringToken: string }>(`${acceptor.url}/v1/peering/token`, {
    method: 'POST',
    json: { PeerName: peerName, ...extra },
  });
  if (r.status !== 200) throw new Error(`token: ${r.status} ${r.text}`);
  return r.body.PeeringToken;
}

export async function establish(
  dialer: ServerProcess,
  peerName: string,
  token: string,
): Promise<{ status: number; text: string }> {
  const r = await api(`${dialer.url}/v1/peering/establish`, {
    method: 'POST',
    json: { PeerName: peerName, PeeringToken: token },
  });
  return { status: r.status, text: r.text };
}

export async function readPeering(server: ServerProcess, name: string): Promise<Peering | undefined> {
  const r = await api<Peering>(`${server.url}/v1/peering/${encodeURIComponent(name)}`);
  if (r.status === 404) return undefined;
  if (r.status !== 200) throw new Error(`read peering ${name}: ${r.status} ${r.text}`);
  return r.body;
}

export async function waitState(
  server: ServerProcess,
  name: string,
  state: string,
  timeoutMs = 10_000,
): Promise<Peering> {
  let last: Peering | undefined;
  try {
    return await eventually(async () => {
      last = await readPeering(server, name);
      return last?.State === state ? last : undefined;
    }, timeoutMs);
  } catch {
    throw new Error(
      `peering ${name} on ${server.url} did not become ${state} in ${timeoutMs} ms; last: ${JSON.stringify(last)}`,
    );
  }
}

/**
 * Peers two servers: the acceptor calls the dialer `dialerName`, the dialer calls the acceptor
 * `acceptorName`. Resolves when both sides are ACTIVE.
 */
export async function peer(
  acceptor: ServerProcess,
  dialer: ServerProcess,
  acceptorName: string,
  dialerName: string,
  tokenExtra: Record<string, unknown> = {},
): Promise<void> {
  const token = await generateToken(acceptor, dialerName, tokenExtra);
  const r = await establish(dialer, acceptorName, token);
  if (r.status !== 200) throw new Error(`establish: ${r.status} ${r.text}`);
  await waitState(dialer, acceptorName, 'ACTIVE');
  await waitState(acceptor, dialerName, 'ACTIVE');
}

export interface Instance {
  node: string;
  service: string;
  id?: string;
  port?: number;
  status?: 'passing' | 'warning' | 'critical';
  address?: string;
}

export async function register(server: ServerProcess, i: Instance): Promise<void> {
  const id = i.id ?? i.service;
  const r = await api(`${server.url}/v1/catalog/register`, {
    method: 'PUT',
    json: {
      Node: i.node,
      Address: i.address ?? '10.0.0.1',
      Service: { ID: id, Service: i.service, Port: i.port ?? 8080, Address: i.address ?? '10.0.0.1' },
      Checks: [
        { CheckID: `check:${id}`, Name: `${id} health`, Status: i.status ?? 'passing', ServiceID: id },
      ],
    },
  });
  if (r.status !== 200) throw new Error(`register: ${r.status} ${r.text}`);
}

export async function deregister(server: ServerProcess, node: string, serviceId: string): Promise<void> {
  const r = await api(`${server.url}/v1/catalog/deregister`, {
    method: 'PUT',
    json: { Node: node, ServiceID: serviceId },
  });
  if (r.status !== 200) throw new Error(`deregister: ${r.status} ${r.text}`);
}

/** Registers a mesh gateway so exports do not warn (and instance addresses point at it). */
export async function registerGateway(server: ServerProcess, port = 8443): Promise<void> {
  const r = await api(`${server.url}/v1/catalog/register`, {
    method: 'PUT',
    json: {
      Node: 'gateway-node',
      Address: '127.0.0.1',
      Service: {
        ID: 'mesh-gateway',
        Service: 'mesh-gateway',
        Kind: 'mesh-gateway',
        Port: port,
        Address: '127.0.0.1',
      },
    },
  });
  if (r.status !== 200) throw new Error(`register gateway: ${r.status} ${r.text}`);
}

/** Writes the exported-services entry: service name → the peers it is exported to. */
export async function exportServices(
  server: ServerProcess,
  exports: Record<string, string[]>,
): Promise<void> {
  const r = await api(`${server.url}/v1/config`, {
    method: 'PUT',
    json: {
      Kind: 'exported-services',
      Name: 'default',
      Services: Object.entries(exports).map(([Name, peers]) => ({
        Name,
        Consumers: peers.map((Peer) => ({ Peer })),
      })),
    },
  });
  if (r.status !== 200) throw new Error(`export: ${r.status} ${r.text}`);
}

export async function health(
  server: ServerProcess,
  service: string,
  peerName: string,
  query = '',
): Promise<{ body: HealthEntry[]; index: number }> {
  const r = await api<HealthEntry[]>(
    `${server.url}/v1/health/service/${service}?peer=${encodeURIComponent(peerName)}${query}`,
  );
  if (r.status !== 200) throw new Error(`health: ${r.status} ${r.text}`);
  return { body: r.body, index: r.index };
}

export async function importedServices(server: ServerProcess, peerName: string): Promise<string[]> {
  const r = await api<Record<string, string[]>>(
    `${server.url}/v1/catalog/services?peer=${encodeURIComponent(peerName)}`,
  );
  if (r.status !== 200) throw new Error(`catalog services: ${r.status} ${r.text}`);
  return Object.keys(r.body).sort();
}

/**
 * A canonical description of what a server holds for a service (local when peerName is ''):
 * "node/id:status" per instance, sorted, for exact set comparisons across clusters.
 */
export async function instanceSet(
  server: ServerProcess,
  service: string,
  peerName: string,
): Promise<string[]> {
  const { body } = await health(server, service, peerName);
  return body
    .map((h) => {
      const checks = h.Checks.filter((c) => c.ServiceID === h.Service.ID)
        .map((c) => c.Status)
        .sort()
        .join(',');
      return `${h.Node.Node}/${h.Service.ID}:${checks}`;
    })
    .sort();
}

/** Every imported service and its instances, keyed by service name. */
export async function importSnapshot(
  server: ServerProcess,
  peerName: string,
): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const name of await importedServices(server, peerName)) {
    out[name] = await instanceSet(server, name, peerName);
  }
  return out;
}

/** The same shape for the local services listed. */
export async function localSnapshot(
  server: ServerProcess,
  names: string[],
): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const name of [...names].sort()) {
    const set = await instanceSet(server, name, '');
    if (set.length > 0) out[name] = set;
  }
  return out;
}

/** Waits until fn() deep-equals want (compared as JSON); throws with the last value otherwise. */
export async function converge<T>(fn: () => Promise<T>, want: T, timeoutMs = 10_000): Promise<void> {
  let last: T | undefined;
  const target = JSON.stringify(want);
  try {
    await eventually(async () => {
      last = await fn();
      return JSON.stringify(last) === target;
    }, timeoutMs);
  } catch {
    throw new Error(`did not converge in ${timeoutMs} ms:\n want ${target}\n last ${JSON.stringify(last)}`);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The port of a host:port address. */
export const portOf = (address: string): number => Number(address.slice(address.lastIndexOf(':') + 1));
