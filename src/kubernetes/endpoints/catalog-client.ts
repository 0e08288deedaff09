// The endpoints controller's calls to the meshpeer server's catalog (Consul's /v1 routes): register and
// deregister an instance, and list the instances this controller manages (to find orphans).
import { ServerClient } from '../server-client.js';
import { fingerprint, MANAGED_BY, META_K8S_SERVICE, META_MANAGED_BY, type Registration } from './desired.js';

const TIMEOUT_MS = 15_000;

/** An instance the catalog holds for this controller. */
export interface ManagedInstance {
  node: string;
  serviceID: string;
  fingerprint: string;
}

export interface CatalogWriter {
  register(registration: Registration): Promise<void>;
  deregister(node: string, serviceID: string): Promise<void>;
  listManaged(): Promise<ManagedInstance[]>;
}

interface HealthEntry {
  Node?: { Node?: string };
  Service?: { ID?: string; Address?: string; Port?: number; Meta?: Record<string, string> | null };
  Checks?: { ServiceID?: string; Status?: string }[] | null;
}

export class HttpCatalogWriter implements CatalogWriter {
  private readonly server: ServerClient;

  constructor(address: string, token?: string) {
    this.server = new ServerClient({ address, ...(token ? { token } : {}), timeoutMs: TIMEOUT_MS });
  }

  async register(registration: Registration): Promise<void> {
    await this.server.request('PUT', '/v1/catalog/register', registration);
  }

  async deregister(node: string, serviceID: string): Promise<void> {
    // 404: the node is gone already, which is what we wanted.
    await this.server.request('PUT', '/v1/catalog/deregister', { Node: node, ServiceID: serviceID }, [404]);
  }

  async listManaged(): Promise<ManagedInstance[]> {
    const names = Object.keys(
      ((await (await this.server.request('GET', '/v1/catalog/services')).json()) ?? {}) as Record<
        string,
        unknown
      >,
    );
    const out: ManagedInstance[] = [];
    for (const name of names) {
      const path = `/v1/health/service/${encodeURIComponent(name)}`;
      const entries = ((await (await this.server.request('GET', path)).json()) ?? []) as HealthEntry[];
      for (const e of entries) {
        const meta = e.Service?.Meta ?? {};
        if (meta[META_MANAGED_BY] !== MANAGED_BY || !e.Node?.Node || !e.Service?.ID) continue;
        const id = e.Service.ID;
        const status = (e.Checks ?? []).find((c) => c.ServiceID === id)?.Status ?? '';
        out.push({
          node: e.Node.Node,
          serviceID: id,
          fingerprint: fingerprint({
            node: e.Node.Node,
            address: e.Service.Address ?? '',
            port: e.Service.Port ?? 0,
            status,
            k8sService: meta[META_K8S_SERVICE] ?? '',
          }),
        });
      }
    }
    return out;
  }
}
