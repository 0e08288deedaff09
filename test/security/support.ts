// Helpers of the attack suite: a real `meshpeer server --acl-enabled` process, tokens made from rules,
// and the store's index (from /metrics) to prove a refused request wrote nothing.
import { expect } from 'vitest';
import { metricValue } from '../server/support.js';
import { api, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';

export const MGMT = '7d3c2a10-6f4e-4b8a-9c1d-2e5f6a7b8c9d';
export const auth = (token: string): Record<string, string> => ({ 'X-Consul-Token': token });

export interface Token {
  AccessorID: string;
  SecretID: string;
}

export interface AclServer {
  server: ServerProcess;
  url: string;
  /** The node agent endpoints act on (`node-<datacenter>`). */
  agentNode: string;
}

export async function startAclServer(
  datacenter: string,
  extraArgs: string[] = [],
  env: Record<string, string> = {},
): Promise<AclServer> {
  // The secret goes in through the environment, not argv (where `ps` shows it).
  const server = await startServerProcess({
    datacenter,
    extraArgs: ['--acl-enabled', ...extraArgs],
    env: { MESHPEER_ACL_INITIAL_MANAGEMENT_TOKEN: MGMT, ...env },
  });
  return { server, url: server.url, agentNode: `node-${datacenter}` };
}

export async function makeToken(url: string, name: string, rules: string): Promise<Token> {
  const policy = await api<{ ID: string }>(`${url}/v1/acl/policy`, {
    headers: auth(MGMT),
    json: { Name: name, Rules: rules },
  });
  expect(policy.status, policy.text).toBe(200);
  const token = await api<Token>(`${url}/v1/acl/token`, {
    headers: auth(MGMT),
    json: { Description: name, Policies: [{ ID: policy.body.ID }] },
  });
  expect(token.status, token.text).toBe(200);
  return token.body;
}

/** The store's last index: any write at all raises it. */
export async function storeIndex(url: string): Promise<number> {
  const res = await api(`${url}/metrics`, { headers: auth(MGMT) });
  expect(res.status).toBe(200);
  const value = metricValue(res.text, 'meshpeer_store_index');
  expect(Number.isFinite(value)).toBe(true);
  return value;
}

/** A management PUT that must succeed. */
export async function put(url: string, path: string, json: unknown): Promise<void> {
  const res = await api(`${url}${path}`, { method: 'PUT', headers: auth(MGMT), json });
  expect(res.status, `${path}: ${res.text}`).toBe(200);
}

/** A management GET of JSON. */
export async function get<T>(url: string, path: string): Promise<T> {
  const res = await api<T>(`${url}${path}`, { headers: auth(MGMT) });
  expect(res.status, `${path}: ${res.text}`).toBe(200);
  return res.body;
}
