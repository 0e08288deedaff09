// The catalog: nodes, service instances and health checks, local and imported from peers. Writes are
// store transactions; reads are served from the store's current state with the catalog tables' index.
import { notFound } from '../shared/errors.js';
import type { ReadView, Store, StoredEntry, WriteTxn } from '../store/store.js';
import {
  CATALOG_TABLES,
  CHECK_TTL_RENEWALS,
  CHECK_TTLS,
  CHECKS,
  CONNECT,
  checkKey,
  connectKey,
  NODE_SERVICES,
  NODES,
  nodeChecksPrefix,
  nodeKey,
  nodeServiceKey,
  nodeServicesPrefix,
  peerPrefix,
  SERVICES,
  serviceKey,
  serviceNamePrefix,
} from './keys.js';
import { LocalChangeLog, type LocalChanges } from './local-change-log.js';
import type { CheckDefinition, DeregisterRequest, RegisterRequest, ServiceDefinition } from './requests.js';
import { SharedTtls } from './shared-ttls.js';
import { type TtlClock, TtlMonitor } from './ttl-monitor.js';
import type { CatalogNode, CheckStatus, HealthCheck, ServiceHealth, ServiceInstance } from './types.js';

export interface ServiceQuery {
  peer?: string;
  tag?: string;
  passing?: boolean;
}

/** One instance as it crosses a peering: the node, the service and its checks. */
export interface InstanceRecord {
  node: CatalogNode;
  service: ServiceInstance;
  checks: HealthCheck[];
}

// Object.assign, not spread: the values have many shapes, and V8's megamorphic object spread is ~15×
// slower; on a health read of ten instances it was the largest cost.
const stamp = <T extends object>(e: {
  value: T;
  createIndex: number;
  modifyIndex: number;
}): T & { CreateIndex: number; ModifyIndex: number } => {
  const out = Object.assign({}, e.value) as T & { CreateIndex: number; ModifyIndex: number };
  out.CreateIndex = e.createIndex;
  out.ModifyIndex = e.modifyIndex;
  return out;
};

export interface CatalogOptions {
  /** The TTL checks' clock (tests). */
  clock?: TtlClock;
  /** Told when a TTL check's expiry could not be written. */
  onTtlError?: (err: unknown, node: string, checkID: string) => void;
}

export class Catalog {
  readonly tables = CATALOG_TABLES;
  private readonly changes = new LocalChangeLog();
  /** Local TTL checks' deadlines (src/catalog/ttl-monitor.ts). */
  readonly ttls: TtlMonitor;
  /** Set when other servers share the store: TTL renewals are stored and every server enforces them. */
  private readonly sharedTtls: SharedTtls | undefined;

  constructor(
    private readonly store: Store,
    private readonly datacenter: string,
    options: CatalogOptions = {},
  ) {
    this.ttls = new TtlMonitor((node, id) => this.expireCheck(node, id), options.clock, options.onTtlError);
    if (store.backend === 'etcd') this.sharedTtls = new SharedTtls(store, this.ttls);
  }

  /** Arms every stored TTL check with a full TTL from now (at server start); drops orphaned TTL rows. */
  async rearmTtlChecks(): Promise<void> {
    const orphans: string[] = [];
    this.store.forEach<number>(CHECK_TTLS, peerPrefix(''), (e) => {
      const check = this.store.get<HealthCheck>(CHECKS, e.key)?.value;
      if (check === undefined) orphans.push(e.key);
      else if (this.sharedTtls === undefined) this.ttls.arm(check.Node, check.CheckID, e.value);
    });
    // Shared store: from each check's last renewal through any server, not a full TTL from now.
    this.sharedTtls?.sync();
    if (orphans.length > 0) {
      await this.store.write((tx) => {
        for (const key of orphans) if (tx.get(CHECKS, key) === undefined) tx.delete(CHECK_TTLS, key);
      });
    }
  }

  /** Stops expiring TTL checks (server shutdown). */
  stop(): void {
    this.sharedTtls?.stop();
    this.ttls.stop();
  }

  /** The check no longer has a TTL (deleted, or registered again without one). */
  private dropTtl(tx: WriteTxn, key: string): void {
    tx.delete(CHECK_TTLS, key);
    if (this.sharedTtls !== undefined) tx.delete(CHECK_TTL_RENEWALS, key);
  }

  /** Arms the TTL checks just written and disarms the node's checks whose TTL row is gone. */
  private syncTtls(node: string, written: readonly CheckDefinition[] = []): void {
    for (const c of written) {
      const id = c.CheckID;
      if (id !== undefined && c.ttlMs !== undefined) this.ttls.arm(node, id, c.ttlMs);
    }
    for (const id of this.ttls.armedOn(node)) {
      if (this.store.get(CHECK_TTLS, checkKey('', node, id)) === undefined) this.ttls.disarm(node, id);
    }
  }

  /** A TTL check not updated in time: critical, with Consul's output (keeping the last one, if any). */
  private async expireCheck(node: string, checkID: string): Promise<void> {
    // Renewed through another server since this one armed it: wait for the rest of that TTL instead.
    if (this.sharedTtls?.rearmIfRenewed(node, checkID)) return;
    await this.store.write((tx) => {
      const key = checkKey('', node, checkID);
      const existing = tx.get<HealthCheck>(CHECKS, key);
      if (existing === undefined || tx.get(CHECK_TTLS, key) === undefined) return;
      const last = existing.value.Output;
      const output =
        last === '' || last.startsWith('TTL expired')
          ? 'TTL expired'
          : `TTL expired (last output before timeout follows): ${last}`;
      if (existing.value.Status === 'critical' && existing.value.Output === output) return;
      tx.put<HealthCheck>(CHECKS, key, { ...existing.value, Status: 'critical', Output: output });
      this.noteCheck(tx, node, existing.value);
    });
  }

  // ---- writes (local data) ----

  async register(req: RegisterRequest): Promise<number> {
    const { index } = await this.store.write((tx) => {
      if (!req.SkipNodeUpdate || tx.get(NODES, nodeKey('', req.Node)) === undefined) {
        this.putNode(tx, registeredNode(req, this.datacenter));
      }
      let service: ServiceInstance | undefined;
      if (req.Service) service = this.putService(tx, '', req.Node, toInstance(req.Service));
      const checks = [...(req.Check ? [req.Check] : []), ...(req.Checks ?? [])];
      for (const c of checks) this.putCheck(tx, req.Node, c, service);
    });
    this.syncTtls(req.Node, [...(req.Check ? [req.Check] : []), ...(req.Checks ?? [])]);
    return index;
  }

  async deregister(req: DeregisterRequest): Promise<number> {
    const { index } = await this.store.write((tx) => {
      if (tx.get(NODES, nodeKey('', req.Node)) === undefined) {
        throw notFound(`Unknown node ${JSON.stringify(req.Node)}`);
      }
      if (req.ServiceID !== undefined) this.deleteService(tx, '', req.Node, req.ServiceID);
      else if (req.CheckID !== undefined) {
        const key = checkKey('', req.Node, req.CheckID);
        const check = tx.get<HealthCheck>(CHECKS, key)?.value;
        if (check !== undefined && tx.delete(CHECKS, key)) this.noteCheck(tx, req.Node, check);
        this.dropTtl(tx, key);
      } else this.deleteNode(tx, '', req.Node);
    });
    this.syncTtls(req.Node);
    return index;
  }

  /** Registers a service (and its checks) on a node in one transaction, creating the node if needed. */
  async registerOnNode(
    node: { Node: string; Address: string },
    service: ServiceDefinition,
    checks: CheckDefinition[],
    options: { replaceExistingChecks?: boolean } = {},
  ): Promise<ServiceInstance> {
    const { result } = await this.store.write((tx) => {
      if (tx.get(NODES, nodeKey('', node.Node)) === undefined) {
        this.putNode(tx, {
          ID: '',
          Node: node.Node,
          Address: node.Address,
          Datacenter: this.datacenter,
          TaggedAddresses: {},
          Meta: {},
        });
      }
      const instance = this.putService(tx, '', node.Node, toInstance(service));
      if (options.replaceExistingChecks) {
        // Consul's ?replace-existing-checks: the service's checks become exactly the ones given.
        const keep = new Set(checks.map((c) => c.CheckID));
        for (const c of tx.list<HealthCheck>(CHECKS, nodeChecksPrefix('', node.Node))) {
          if (c.value.ServiceID === instance.ID && !keep.has(c.value.CheckID)) {
            tx.delete(CHECKS, c.key);
            this.dropTtl(tx, c.key);
            this.noteCheck(tx, node.Node, c.value);
          }
        }
      }
      for (const c of checks) this.putCheck(tx, node.Node, c, instance);
      return instance;
    });
    this.syncTtls(node.Node, checks);
    return result;
  }

  async deregisterService(node: string, serviceID: string): Promise<void> {
    await this.store.write((tx) => {
      if (!this.deleteService(tx, '', node, serviceID)) {
        throw notFound(`Unknown service ID ${JSON.stringify(serviceID)}`);
      }
    });
    this.syncTtls(node);
  }

  async updateCheck(node: string, checkID: string, status: CheckStatus, output?: string): Promise<void> {
    await this.store.write((tx) => {
      const key = checkKey('', node, checkID);
      const existing = tx.get<HealthCheck>(CHECKS, key);
      if (existing === undefined) throw notFound(`Unknown check ID ${JSON.stringify(checkID)}`);
      // Every server must see the renewal, even one that changes nothing else.
      if (tx.get(CHECK_TTLS, key) !== undefined) this.sharedTtls?.renewed(tx, key);
      if (existing.value.Status === status && (output === undefined || existing.value.Output === output))
        return;
      tx.put<HealthCheck>(CHECKS, key, {
        ...existing.value,
        Status: status,
        Output: output ?? existing.value.Output,
      });
      this.noteCheck(tx, node, existing.value);
    });
    // A TTL check's update (pass, warn, fail or update) starts its TTL again.
    const ttl = this.store.get<number>(CHECK_TTLS, checkKey('', node, checkID))?.value;
    if (ttl !== undefined) this.ttls.arm(node, checkID, ttl);
  }

  // ---- writes (imported data) ----

  /**
   * Makes the peer's imported instances of one service exactly `records`: adds, changes and removes
   * entries so the catalog matches, writing nothing when it already does (blocking queries stay asleep).
   * Imported nodes live as long as one of their services does.
   */
  replaceImportedService(tx: WriteTxn, peer: string, name: string, records: readonly InstanceRecord[]): void {
    const wanted = new Map<string, InstanceRecord>();
    for (const r of records) {
      if (r.service.Service !== name) continue;
      wanted.set(serviceKey(peer, name, r.node.Node, r.service.ID), r);
    }
    const touchedNodes = new Set<string>();
    for (const existing of tx.list<ServiceInstance>(SERVICES, serviceNamePrefix(peer, name))) {
      if (!wanted.has(existing.key)) {
        const node = nodeOf(existing, peer);
        this.deleteService(tx, peer, node, existing.value.ID);
        touchedNodes.add(node);
      }
    }
    // Instances that existed before, by node: their check sets now, to drop the checks the peer no
    // longer sends. A new instance has no old checks, so only nodes with existing instances are scanned,
    // once per node (not once per instance: a node may carry hundreds of instances).
    const existingByNode = new Map<string, Map<string, Set<string>>>();
    const nodeChecksSent = new Map<string, Set<string>>();
    for (const [key, r] of wanted) {
      const existed = tx.get(SERVICES, key) !== undefined;
      const node: CatalogNode = { ...r.node, PeerName: peer };
      putIfChanged(tx, NODES, nodeKey(peer, node.Node), node);
      this.putService(tx, peer, node.Node, { ...r.service, PeerName: peer });
      const sent = nodeChecksSent.get(node.Node) ?? new Set<string>();
      nodeChecksSent.set(node.Node, sent);
      for (const c of r.checks) {
        putIfChanged(tx, CHECKS, checkKey(peer, node.Node, c.CheckID), {
          ...c,
          Node: node.Node,
          PeerName: peer,
        });
        if (c.ServiceID === '') sent.add(c.CheckID);
      }
      if (!existed) continue;
      const byService = existingByNode.get(node.Node) ?? new Map<string, Set<string>>();
      existingByNode.set(node.Node, byService);
      byService.set(r.service.ID, new Set(r.checks.map((c) => c.CheckID)));
    }
    // A service check goes when its instance no longer lists it; a node-level check when no instance of
    // the node in this message lists it (every service on a node carries the same node checks).
    for (const [node, byService] of existingByNode) {
      const nodeChecks = nodeChecksSent.get(node) ?? new Set<string>();
      for (const c of tx.list<HealthCheck>(CHECKS, nodeChecksPrefix(peer, node))) {
        const { ServiceID, CheckID } = c.value;
        const stale =
          ServiceID === '' ? !nodeChecks.has(CheckID) : byService.get(ServiceID)?.has(CheckID) === false;
        if (stale) tx.delete(CHECKS, c.key);
      }
    }
    for (const node of touchedNodes) {
      if (tx.list(NODE_SERVICES, nodeServicesPrefix(peer, node)).length === 0)
        this.deleteNode(tx, peer, node);
    }
  }

  /** Names of the services imported from a peer (as `tx` sees them, when given). */
  importedServiceNames(peer: string, tx?: WriteTxn): string[] {
    if (tx === undefined) return Object.keys(this.services(peer));
    return [...new Set(tx.list<ServiceInstance>(SERVICES, peerPrefix(peer)).map((e) => e.value.Service))];
  }

  /**
   * The local services that writes after `index` touched (instances, their checks or their nodes), or
   * undefined when the log no longer reaches back that far (the caller then recomputes everything).
   */
  localChangesSince(index: number): LocalChanges | undefined {
    // The log sees only this server's writes: after another server's, the caller recomputes everything.
    if (this.store.foreignIndex(CATALOG_TABLES) > index) return undefined;
    return this.changes.since(index);
  }

  private note(tx: WriteTxn, name: string, kind: string | undefined): void {
    this.changes.record(tx.index, name, kind === 'mesh-gateway');
  }

  /**
   * A local check changed: its service, or every service on the node for a node check. A mesh
   * gateway's check counts as a gateway change (exports point at the healthy gateways only).
   */
  private noteCheck(tx: WriteTxn, node: string, check: HealthCheck): void {
    if (check.ServiceID !== '' && check.ServiceName !== '') {
      const svc = tx.get<ServiceInstance>(SERVICES, serviceKey('', check.ServiceName, node, check.ServiceID));
      this.note(tx, check.ServiceName, svc?.value.Kind);
    } else this.noteNode(tx, node);
  }

  /** A local node changed: every service on it. */
  private noteNode(tx: WriteTxn, node: string): void {
    const prefix = nodeServicesPrefix('', node);
    for (const e of tx.list<string>(NODE_SERVICES, prefix)) {
      const id = decodeURIComponent(e.key.slice(prefix.length));
      const svc = tx.get<ServiceInstance>(SERVICES, serviceKey('', e.value, node, id))?.value;
      this.note(tx, e.value, svc?.Kind);
    }
  }

  removeImported(tx: WriteTxn, peer: string): void {
    for (const table of CATALOG_TABLES) tx.deletePrefix(table, peerPrefix(peer));
  }

  // ---- reads ----

  index(view: ReadView = this.store): number {
    return view.maxIndex(CATALOG_TABLES);
  }

  /** GET /v1/catalog/services: service name → union of tags. */
  services(peer = ''): Record<string, string[]> {
    const out = new Map<string, Set<string>>();
    this.store.forEach<ServiceInstance>(SERVICES, peerPrefix(peer), (e) => {
      let tags = out.get(e.value.Service);
      if (tags === undefined) {
        tags = new Set();
        out.set(e.value.Service, tags);
      }
      for (const t of e.value.Tags) tags.add(t);
    });
    return Object.fromEntries([...out].map(([n, tags]) => [n, [...tags].sort()]));
  }

  nodes(peer = ''): Array<CatalogNode & { CreateIndex: number; ModifyIndex: number }> {
    return this.store.list<CatalogNode>(NODES, peerPrefix(peer)).map(stamp);
  }

  node(name: string, peer = ''): CatalogNode | undefined {
    return this.store.get<CatalogNode>(NODES, nodeKey(peer, name))?.value;
  }

  /** GET /v1/health/service/:name */
  healthService(name: string, query: ServiceQuery = {}): ServiceHealth[] {
    const peer = query.peer ?? '';
    const out: ServiceHealth[] = [];
    this.store.forEach<ServiceInstance>(SERVICES, serviceNamePrefix(peer, name), (e) => {
      if (e.value.Service !== name) return;
      const h = this.withHealth(peer, e);
      if (h !== undefined && matches(h, query)) out.push(h);
    });
    return out;
  }

  /**
   * Every local service's instances with their checks, by service name, in healthService's order — one
   * pass over each table. Exporting a whole catalog with healthService per name would cost O(checks on
   * the node) per instance, as checks are keyed by node.
   */
  localHealthByService(): Map<string, ServiceHealth[]> {
    const local = peerPrefix('');
    const nodes = new Map<string, CatalogNode & { CreateIndex: number; ModifyIndex: number }>();
    this.store.forEach<CatalogNode>(NODES, local, (e) => {
      nodes.set(e.value.Node, stamp(e));
    });
    // Per node: its node-level checks and each service's checks, each list in key (CheckID) order.
    type Stamped = HealthCheck & { CreateIndex: number; ModifyIndex: number };
    const checks = new Map<string, { node: Stamped[]; services: Map<string, Stamped[]> }>();
    this.store.forEach<HealthCheck>(CHECKS, local, (e) => {
      let c = checks.get(e.value.Node);
      if (c === undefined) {
        c = { node: [], services: new Map() };
        checks.set(e.value.Node, c);
      }
      if (e.value.ServiceID === '') {
        c.node.push(stamp(e));
        return;
      }
      let list = c.services.get(e.value.ServiceID);
      if (list === undefined) {
        list = [];
        c.services.set(e.value.ServiceID, list);
      }
      list.push(stamp(e));
    });
    const out = new Map<string, ServiceHealth[]>();
    this.store.forEach<ServiceInstance>(SERVICES, local, (e) => {
      const node = nodes.get(nodeOf(e, ''));
      if (node === undefined) return;
      const c = checks.get(node.Node);
      const own = c?.services.get(e.value.ID) ?? [];
      const shared = c?.node ?? [];
      // Merge the two sorted lists, as withHealth's single ordered scan returns them.
      const merged: Stamped[] = [];
      let i = 0;
      let j = 0;
      while (i < own.length || j < shared.length) {
        const a = own[i];
        const b = shared[j];
        if (
          b === undefined ||
          (a !== undefined && encodeURIComponent(a.CheckID) < encodeURIComponent(b.CheckID))
        ) {
          merged.push(a!);
          i++;
        } else {
          merged.push(b);
          j++;
        }
      }
      let list = out.get(e.value.Service);
      if (list === undefined) {
        list = [];
        out.set(e.value.Service, list);
      }
      list.push({ Node: node, Service: stamp(e), Checks: merged });
    });
    return out;
  }

  /** GET /v1/health/connect/:name: the proxies (and native services) that front `name`. */
  healthConnect(name: string, query: ServiceQuery = {}): ServiceHealth[] {
    const peer = query.peer ?? '';
    // An imported service fronts itself (it is reached through the peer's mesh gateway): no index needed.
    if (peer !== '') return this.healthService(name, query).filter((h) => h.Service.Kind === '');
    const out: ServiceHealth[] = [];
    this.store.forEach<string>(CONNECT, serviceNamePrefix(peer, name), (c) => {
      const [, node, id] = c.key.slice(peerPrefix(peer).length).split('/').map(decodeURIComponent);
      const svc = this.store.get<ServiceInstance>(SERVICES, serviceKey(peer, c.value, node ?? '', id ?? ''));
      if (svc === undefined) return;
      const h = this.withHealth(peer, svc);
      if (h !== undefined && matches(h, query)) out.push(h);
    });
    return out;
  }

  /** GET /v1/health/checks/:name */
  serviceChecks(name: string, peer = ''): Array<HealthCheck & { CreateIndex: number; ModifyIndex: number }> {
    const out: Array<HealthCheck & { CreateIndex: number; ModifyIndex: number }> = [];
    for (const h of this.healthService(name, { peer })) {
      for (const c of h.Checks) if (c.ServiceID === h.Service.ID) out.push(c);
    }
    return out;
  }

  /** The services registered on a node (its NODE_SERVICES index), stamped; undefined for an unknown node. */
  nodeServices(
    node: string,
    peer = '',
  ): Array<ServiceInstance & { CreateIndex: number; ModifyIndex: number }> {
    const out: Array<ServiceInstance & { CreateIndex: number; ModifyIndex: number }> = [];
    const prefix = nodeServicesPrefix(peer, node);
    this.store.forEach<string>(NODE_SERVICES, prefix, (e) => {
      const id = decodeURIComponent(e.key.slice(prefix.length));
      const svc = this.store.get<ServiceInstance>(SERVICES, serviceKey(peer, e.value, node, id));
      if (svc !== undefined) out.push(stamp(svc));
    });
    return out;
  }

  /** GET /v1/health/node/:node: the node's checks (node checks and its services' checks). */
  nodeChecks(node: string, peer = ''): Array<HealthCheck & { CreateIndex: number; ModifyIndex: number }> {
    return this.store.list<HealthCheck>(CHECKS, nodeChecksPrefix(peer, node)).map(stamp);
  }

  /** GET /v1/health/state/:state: every check in a state ('any': all of them). */
  checksInState(
    state: CheckStatus | 'any',
    peer = '',
  ): Array<HealthCheck & { CreateIndex: number; ModifyIndex: number }> {
    const out: Array<HealthCheck & { CreateIndex: number; ModifyIndex: number }> = [];
    this.store.forEach<HealthCheck>(CHECKS, peerPrefix(peer), (e) => {
      if (state === 'any' || e.value.Status === state) out.push(stamp(e));
    });
    return out;
  }

  /** Every instance with its node (one pass), for reads that select by node meta or a filter. */
  allServiceNodes(peer = ''): Array<{ node: CatalogNode; service: ServiceInstance }> {
    const nodes = new Map<string, CatalogNode>();
    this.store.forEach<CatalogNode>(NODES, peerPrefix(peer), (e) => {
      nodes.set(e.value.Node, e.value);
    });
    const out: Array<{ node: CatalogNode; service: ServiceInstance }> = [];
    this.store.forEach<ServiceInstance>(SERVICES, peerPrefix(peer), (e) => {
      const node = nodes.get(nodeOf(e, peer));
      if (node !== undefined) out.push({ node, service: e.value });
    });
    return out;
  }

  /** Local service names that are registered (any kind). */
  localServiceNames(): string[] {
    return Object.keys(this.services(''));
  }

  // ---- helpers ----

  private withHealth(peer: string, e: StoredEntry<ServiceInstance>): ServiceHealth | undefined {
    const svc = e.value;
    const node = this.store.get<CatalogNode>(NODES, nodeKey(peer, nodeOf(e, peer)));
    if (node === undefined) return undefined;
    const checks = this.store
      .list<HealthCheck>(CHECKS, nodeChecksPrefix(peer, node.value.Node))
      .filter((c) => c.value.ServiceID === '' || c.value.ServiceID === svc.ID)
      .map(stamp);
    return { Node: stamp(node), Service: stamp(e), Checks: checks };
  }

  private putNode(tx: WriteTxn, node: CatalogNode): void {
    const key = nodeKey('', node.Node);
    const existing = tx.get<CatalogNode>(NODES, key);
    if (existing !== undefined && JSON.stringify(existing.value) === JSON.stringify(node)) return;
    tx.put(NODES, key, node);
    if (existing !== undefined) this.noteNode(tx, node.Node);
  }

  private putService(tx: WriteTxn, peer: string, node: string, svc: ServiceInstance): ServiceInstance {
    const previousName = tx.get<string>(NODE_SERVICES, nodeServiceKey(peer, node, svc.ID))?.value;
    if (previousName !== undefined && previousName !== svc.Service)
      this.deleteService(tx, peer, node, svc.ID);
    const key = serviceKey(peer, svc.Service, node, svc.ID);
    const existing = tx.get<ServiceInstance>(SERVICES, key);
    if (existing === undefined || JSON.stringify(existing.value) !== JSON.stringify(svc)) {
      tx.put(SERVICES, key, svc);
      if (previousName === undefined) tx.put(NODE_SERVICES, nodeServiceKey(peer, node, svc.ID), svc.Service);
      if (peer === '') this.note(tx, svc.Service, svc.Kind);
    }
    const destination = connectDestination(svc);
    if (
      destination !== undefined &&
      tx.get(CONNECT, connectKey(peer, destination, node, svc.ID)) === undefined
    ) {
      tx.put(CONNECT, connectKey(peer, destination, node, svc.ID), svc.Service);
    }
    return svc;
  }

  private putCheck(
    tx: WriteTxn,
    node: string,
    c: CheckDefinition,
    service: ServiceInstance | undefined,
  ): void {
    const serviceID = checkServiceID(c, service);
    let svc = serviceID === '' ? undefined : service;
    if (serviceID !== '' && svc?.ID !== serviceID) {
      const name = tx.get<string>(NODE_SERVICES, nodeServiceKey('', node, serviceID))?.value;
      if (name === undefined)
        throw notFound(`Check.ServiceID: unknown service ID ${JSON.stringify(serviceID)}`);
      svc = tx.get<ServiceInstance>(SERVICES, serviceKey('', name, node, serviceID))?.value;
    }
    const check: HealthCheck = {
      Node: node,
      CheckID: c.CheckID ?? (serviceID ? `service:${serviceID}` : c.Name),
      Name: c.Name,
      Status: c.Status ?? 'critical',
      Notes: c.Notes ?? '',
      Output: c.Output ?? '',
      ServiceID: serviceID,
      ServiceName: svc?.Service ?? '',
      ServiceTags: svc?.Tags ?? [],
      Type: c.Type ?? '',
    };
    const key = checkKey('', node, check.CheckID);
    const ttl = tx.get<number>(CHECK_TTLS, key)?.value;
    if (c.ttlMs !== undefined && ttl !== c.ttlMs) tx.put(CHECK_TTLS, key, c.ttlMs);
    if (c.ttlMs !== undefined) this.sharedTtls?.renewed(tx, key);
    else if (c.ttlMs === undefined && ttl !== undefined) this.dropTtl(tx, key);
    const existing = tx.get<HealthCheck>(CHECKS, key);
    if (existing === undefined || JSON.stringify(existing.value) !== JSON.stringify(check)) {
      tx.put(CHECKS, key, check);
      this.noteCheck(tx, node, check);
      // A check that moved from one service to another changes both.
      if (existing !== undefined && existing.value.ServiceName !== check.ServiceName)
        this.noteCheck(tx, node, existing.value);
    }
  }

  private deleteService(tx: WriteTxn, peer: string, node: string, id: string): boolean {
    const name = tx.get<string>(NODE_SERVICES, nodeServiceKey(peer, node, id))?.value;
    if (name === undefined) return false;
    const svc = tx.get<ServiceInstance>(SERVICES, serviceKey(peer, name, node, id))?.value;
    tx.delete(SERVICES, serviceKey(peer, name, node, id));
    if (peer === '') this.note(tx, name, svc?.Kind);
    tx.delete(NODE_SERVICES, nodeServiceKey(peer, node, id));
    const destination = svc === undefined ? undefined : connectDestination(svc);
    if (destination !== undefined) tx.delete(CONNECT, connectKey(peer, destination, node, id));
    for (const c of tx.list<HealthCheck>(CHECKS, nodeChecksPrefix(peer, node))) {
      if (c.value.ServiceID !== id) continue;
      tx.delete(CHECKS, c.key);
      if (peer === '') this.dropTtl(tx, c.key);
    }
    return true;
  }

  private deleteNode(tx: WriteTxn, peer: string, node: string): void {
    for (const s of tx.list(NODE_SERVICES, nodeServicesPrefix(peer, node))) {
      const id = decodeURIComponent(s.key.slice(nodeServicesPrefix(peer, node).length));
      this.deleteService(tx, peer, node, id);
    }
    tx.deletePrefix(CHECKS, nodeChecksPrefix(peer, node));
    if (peer === '') {
      tx.deletePrefix(CHECK_TTLS, nodeChecksPrefix(peer, node));
      if (this.sharedTtls !== undefined) tx.deletePrefix(CHECK_TTL_RENEWALS, nodeChecksPrefix(peer, node));
    }
    tx.delete(NODES, nodeKey(peer, node));
  }
}

function putIfChanged(tx: WriteTxn, table: string, key: string, value: unknown): void {
  const existing = tx.get(table, key);
  if (existing === undefined || JSON.stringify(existing.value) !== JSON.stringify(value))
    tx.put(table, key, value);
}

/** The node record a catalog registration writes (when it writes the node at all). */
export function registeredNode(req: RegisterRequest, datacenter: string): CatalogNode {
  return {
    ID: req.ID ?? '',
    Node: req.Node,
    Address: req.Address ?? '',
    Datacenter: datacenter,
    TaggedAddresses: req.TaggedAddresses ?? {},
    Meta: req.NodeMeta ?? {},
  };
}

/**
 * Whether a registration writes the node: it does not exist yet, or the request changes it (unless
 * SkipNodeUpdate). putNode writes nothing for an identical record, so this is exactly when it writes.
 */
export function registrationChangesNode(req: RegisterRequest, existing: CatalogNode | undefined): boolean {
  if (existing === undefined) return true;
  if (req.SkipNodeUpdate) return false;
  return JSON.stringify(registeredNode(req, existing.Datacenter)) !== JSON.stringify(existing);
}

/** The service ID a registered check belongs to ('' for a node check). */
export function checkServiceID(c: CheckDefinition, service: ServiceInstance | undefined): string {
  return c.ServiceID ?? service?.ID ?? '';
}

/** The instance a service definition is stored as. */
export function toInstance(s: ServiceDefinition): ServiceInstance {
  const instance: ServiceInstance = {
    ID: s.ID && s.ID !== '' ? s.ID : s.Service,
    Service: s.Service,
    Kind: s.Kind === 'typical' ? '' : (s.Kind ?? ''),
    Tags: s.Tags ?? [],
    Address: s.Address ?? '',
    TaggedAddresses: s.TaggedAddresses ?? {},
    Meta: s.Meta ?? {},
    Port: s.Port ?? 0,
    Weights: s.Weights ?? { Passing: 1, Warning: 1 },
    EnableTagOverride: s.EnableTagOverride ?? false,
  };
  if (s.Proxy) instance.Proxy = s.Proxy;
  if (s.Connect) instance.Connect = s.Connect;
  if (s.Namespace) instance.Namespace = s.Namespace;
  if (s.Locality && (s.Locality.Region || s.Locality.Zone)) instance.Locality = s.Locality;
  return instance;
}

/**
 * The service a connect-proxy fronts; native Connect services front themselves. Imported services front
 * themselves too, but healthConnect answers them from SERVICES: they get no CONNECT entry (one row less
 * per imported instance to write).
 */
export function connectDestination(s: ServiceInstance): string | undefined {
  if (s.PeerName !== undefined && s.PeerName !== '') return undefined;
  if (s.Kind === 'connect-proxy') {
    const dest = s.Proxy?.DestinationServiceName;
    return typeof dest === 'string' && dest !== '' ? dest : undefined;
  }
  if (s.Connect?.Native === true) return s.Service;
  return undefined;
}

/** The node of a SERVICES entry, from its key (peer/name/node/id). */
function nodeOf(e: StoredEntry<ServiceInstance>, peer: string): string {
  const rest = e.key.slice(peerPrefix(peer).length).split('/');
  return decodeURIComponent(rest[1] ?? '');
}

function matches(h: ServiceHealth, q: ServiceQuery): boolean {
  if (q.tag !== undefined && !h.Service.Tags.includes(q.tag)) return false;
  if (q.passing && h.Checks.some((c) => c.Status !== 'passing')) return false;
  return true;
}
