// Leader election among the servers of one cluster that share an etcd store. Each server keeps two keys
// alive under the cluster's prefix with etcd leases of --leader-lease-ttl seconds:
//   <prefix>servers/<id>            its identity (the server list peering tokens are made from)
//   <prefix>election/leader/<lease>  its candidacy; the oldest key leads (etcd's election recipe)
// A leader that has not heard from etcd for most of a lease stops acting as leader before etcd can let
// another server take over, so two servers never both believe they lead for longer than clock skew.
// Stopping resigns, so a planned restart hands leadership over at once instead of after the lease.
import type { Campaign, ElectionObserver, Etcd3, Lease, Namespace, Watcher } from 'etcd3';
import type { Logger } from '../shared/logger.js';
import type { Leadership, ServerIdentity } from './leadership.js';

export interface EtcdLeadershipOptions {
  client: Etcd3;
  /** The store's key prefix, ending with '/'. */
  prefix: string;
  self: ServerIdentity;
  logger: Logger;
  /** Lease TTL in seconds: how long a dead leader keeps the election (default 3). */
  ttlSeconds?: number;
}

const RETRY_MS = 1_000;
const CHECK_MS = 200;
/** A leader steps down after this share of the lease without contact. */
const STEP_DOWN_SHARE = 0.75;

export async function startEtcdLeadership(options: EtcdLeadershipOptions): Promise<Leadership> {
  const leadership = new EtcdLeadership(options);
  await leadership.start();
  return leadership;
}

function parseIdentity(raw: string | undefined): ServerIdentity | undefined {
  if (raw === undefined) return undefined;
  try {
    const v = JSON.parse(raw) as Partial<ServerIdentity>;
    if (typeof v.id !== 'string' || typeof v.httpAddress !== 'string' || !Array.isArray(v.grpcAddresses))
      return undefined;
    return {
      id: v.id,
      node: typeof v.node === 'string' ? v.node : v.id,
      httpAddress: v.httpAddress,
      grpcAddresses: v.grpcAddresses.filter((a): a is string => typeof a === 'string'),
    };
  } catch {
    return undefined;
  }
}

class EtcdLeadership implements Leadership {
  readonly self: ServerIdentity;
  readonly shared = true;
  private readonly ns: Namespace;
  private readonly ttl: number;
  private readonly log: Logger;
  private readonly listeners = new Set<() => void>();
  private members = new Map<string, ServerIdentity>();
  private current: ServerIdentity | undefined;
  private elected = false;
  private leadingAsSeen = false;
  private lastContact = Date.now();
  private stopped = false;
  private campaign: Campaign | undefined;
  private observer: ElectionObserver | undefined;
  private memberLease: Lease | undefined;
  private memberWatch: Watcher | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private ticker: NodeJS.Timeout | undefined;

  constructor(o: EtcdLeadershipOptions) {
    this.self = o.self;
    this.ns = o.client.namespace(o.prefix);
    this.ttl = o.ttlSeconds ?? 3;
    this.log = o.logger;
  }

  async start(): Promise<void> {
    await this.register();
    this.memberWatch = await this.ns.watch().prefix('servers/').create();
    this.memberWatch.on('put', () => void this.reloadMembers());
    this.memberWatch.on('delete', () => void this.reloadMembers());
    this.memberWatch.on('connected', () => void this.reloadMembers());
    await this.reloadMembers();
    await this.observe();
    this.runCampaign();
    this.ticker = setInterval(() => this.check(), CHECK_MS);
    this.ticker.unref();
  }

  isLeader(): boolean {
    return this.elected && this.contactFresh();
  }

  leader(): ServerIdentity | undefined {
    return this.current;
  }

  servers(): ServerIdentity[] {
    const all = new Map(this.members);
    all.set(this.self.id, this.self);
    return [...all.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  knownLeader(): boolean {
    return this.current !== undefined && this.contactFresh();
  }

  lastContactMs(): number {
    return Math.max(0, Date.now() - this.lastContact);
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    for (const t of this.timers) clearTimeout(t);
    const wasLeader = this.isLeader();
    this.elected = false;
    if (wasLeader) this.emitChange();
    // Resigning deletes the candidacy key, so the next server leads now rather than after the lease.
    await Promise.allSettled([
      this.campaign?.resign(),
      this.memberLease?.revoke(),
      this.observer?.cancel(),
      this.memberWatch?.cancel(),
    ]);
  }

  private contactFresh(): boolean {
    return Date.now() - this.lastContact < this.ttl * 1000 * STEP_DOWN_SHARE;
  }

  private later(fn: () => void, ms = RETRY_MS): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) fn();
    }, ms);
    t.unref();
    this.timers.add(t);
  }

  /** Puts this server's identity under a lease of its own, and puts it again whenever the lease is lost. */
  private async register(): Promise<void> {
    const lease = this.ns.lease(this.ttl);
    this.memberLease = lease;
    lease.on('keepaliveSucceeded', () => {
      this.lastContact = Date.now();
    });
    lease.on('lost', (err: Error) => {
      if (this.stopped || this.memberLease !== lease) return;
      this.log.warn({ err: err.message }, 'lost contact with etcd; registering this server again');
      this.later(() => void this.registerUntilDone());
    });
    await lease.put(`servers/${this.self.id}`).value(JSON.stringify(this.self));
    this.lastContact = Date.now();
  }

  private async registerUntilDone(): Promise<void> {
    try {
      await this.register();
      this.log.info('registered this server in etcd again');
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'cannot register this server in etcd; retrying');
      this.later(() => void this.registerUntilDone());
    }
  }

  private async reloadMembers(): Promise<void> {
    try {
      const all = await this.ns.getAll().prefix('servers/').strings();
      const next = new Map<string, ServerIdentity>();
      for (const raw of Object.values(all)) {
        const id = parseIdentity(raw);
        if (id !== undefined) next.set(id.id, id);
      }
      const before = [...this.members.keys()].sort().join(',');
      this.members = next;
      if ([...next.keys()].sort().join(',') !== before) this.emitChange();
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'cannot list the servers in etcd');
    }
  }

  private async observe(): Promise<void> {
    try {
      const observer = await this.ns.election('leader', this.ttl).observe();
      this.observer = observer;
      this.setLeader(parseIdentity(observer.leader()));
      observer.on('change', (value: string | undefined) => this.setLeader(parseIdentity(value)));
      observer.on('error', (err: Error) => {
        if (this.stopped || this.observer !== observer) return;
        this.log.warn({ err: err.message }, 'lost the view of the election; watching it again');
        this.setLeader(undefined);
        void observer.cancel().catch(() => undefined);
        this.later(() => void this.observe());
      });
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'cannot watch the election; retrying');
      this.later(() => void this.observe());
    }
  }

  private setLeader(next: ServerIdentity | undefined): void {
    if (next?.id === this.current?.id) return;
    this.current = next;
    this.log.info({ leader: next?.id ?? '(none)' }, next ? 'leader is known' : 'no leader');
    this.emitChange();
  }

  private runCampaign(): void {
    if (this.stopped) return;
    const campaign = this.ns.election('leader', this.ttl).campaign(JSON.stringify(this.self));
    this.campaign = campaign;
    campaign.on('elected', () => {
      if (this.campaign !== campaign || this.stopped) return;
      this.elected = true;
      this.lastContact = Date.now();
      this.log.info({ id: this.self.id }, 'this server is now the leader');
      this.check();
    });
    campaign.on('error', (err: Error) => {
      if (this.campaign !== campaign) return;
      this.campaign = undefined;
      this.elected = false;
      this.log.warn(
        { err: err.message },
        'left the election (etcd unreachable or lease lost); campaigning again',
      );
      this.check();
      void campaign.resign().catch(() => undefined);
      this.later(() => this.runCampaign());
    });
  }

  /** Emits a change when isLeader() flips (election won or lost, or contact with etcd lost or back). */
  private check(): void {
    const leading = this.isLeader();
    if (leading === this.leadingAsSeen) return;
    this.leadingAsSeen = leading;
    if (!leading && this.elected)
      this.log.warn('no contact with etcd for most of the lease: acting as a follower until it is back');
    this.emitChange();
  }

  private emitChange(): void {
    for (const l of [...this.listeners]) {
      try {
        l();
      } catch (err) {
        this.log.error({ err }, 'a leadership listener failed');
      }
    }
  }
}
