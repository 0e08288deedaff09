// The cluster's certificate authority as the server runs it: the root and the gRPC server certificate
// are created at first start and kept in the store, so a restart presents the same identity; leaves
// for sidecars and gateways are issued on demand and cached until they near renewal or the SNI names
// they must carry (the service's export set) change.
import type { Store } from '../store/store.js';
import { type IssuedCert, issueLeaf, issueServerCert, renewAt } from './leaf.js';
import { createRootCa, type RootCa } from './root.js';
import { newTrustDomain, peeringServerName, trustDomainOfClusterId } from './trust-domain.js';
import { workloadSniNames } from './workload-sni-names.js';

/** A service's current leaf, with the index that orders it among the leaves this CA issued. */
export interface ServiceLeaf extends IssuedCert {
  /**
   * Milliseconds since the epoch at issue, raised when needed so that every leaf issued has a larger
   * index than the one before (even within one millisecond), and a restart keeps it growing.
   */
  index: number;
  /** The SNI names the leaf carries as DNS SANs. */
  sniNames: string[];
}

export interface LeafRequest {
  /** The peers the service is exported to now (the caller reads the exported-services entry). */
  exportedToPeers?: readonly string[];
}

export const CA_TABLE = 'ca';
const ROOT_KEY = 'root';
const SERVER_CERT_KEY = 'server-cert';

export class CertificateAuthority {
  private readonly leaves = new Map<string, ServiceLeaf>();
  /** Issuance under way, per service: callers asking for the same names share it. */
  private readonly issuing = new Map<string, { key: string; leaf: Promise<ServiceLeaf> }>();
  private lastLeafIndex = 0;

  private serverCertIssued: Promise<IssuedCert> | undefined;

  private constructor(
    private readonly store: Store,
    readonly root: RootCa,
    readonly datacenter: string,
    private readonly extraServerNames: string[],
  ) {}

  /**
   * Opens the CA kept in the store, or creates it. A new CA's trust domain is `<clusterId>.consul` when
   * a cluster ID is given (Consul's connect.ca_config.cluster_id), a fresh `<uuid>.consul` otherwise;
   * an existing CA keeps its own (every certificate and peering made so far names it): compare
   * `trustDomain` with the ID's to tell.
   */
  static async open(
    store: Store,
    datacenter: string,
    extraServerNames: string[] = [],
    options: { clusterId?: string } = {},
  ): Promise<CertificateAuthority> {
    let root = store.get<RootCa>(CA_TABLE, ROOT_KEY)?.value;
    if (root === undefined) {
      const trustDomain =
        options.clusterId === undefined ? newTrustDomain() : trustDomainOfClusterId(options.clusterId);
      root = await createRootCa({ clusterName: datacenter, trustDomain });
      const created = root;
      await store.write((tx) => {
        if (tx.get(CA_TABLE, ROOT_KEY) === undefined) tx.put(CA_TABLE, ROOT_KEY, created);
      });
      root = store.get<RootCa>(CA_TABLE, ROOT_KEY)!.value;
    }
    return new CertificateAuthority(store, root, datacenter, extraServerNames);
  }

  /**
   * The gRPC server certificate: the stored one while it is from this root and not due for renewal,
   * otherwise a new one, stored. Made on first use, so that the HTTP API does not wait for it.
   */
  serverCertificate(): Promise<IssuedCert> {
    this.serverCertIssued ??= this.loadOrIssueServerCert();
    return this.serverCertIssued;
  }

  private async loadOrIssueServerCert(): Promise<IssuedCert> {
    const stored = this.store.get<IssuedCert>(CA_TABLE, SERVER_CERT_KEY)?.value;
    if (stored !== undefined && stored.rootId === this.root.id && renewAt(stored, () => 1) > new Date())
      return stored;
    const issued = await issueServerCert(this.root, {
      datacenter: this.datacenter,
      dnsNames: this.extraServerNames,
      ttlHours: 24 * 365,
    });
    await this.store.write((tx) => tx.put(CA_TABLE, SERVER_CERT_KEY, issued));
    return issued;
  }

  get trustDomain(): string {
    return this.root.trustDomain;
  }

  /** The name the gRPC server certificate carries; the peering token's ServerName. */
  get serverName(): string {
    return peeringServerName(this.datacenter, this.root.trustDomain);
  }

  /** When a leaf handed out is replaced by a new one (mid-way through its renewal window). */
  leafRenewalAt(leaf: IssuedCert): Date {
    return renewAt(leaf, () => 0.5);
  }

  /**
   * A leaf for a service, reused until it is due for renewal or the SNI names it must carry change
   * (a new export, a removed one): then a new one, with a larger index.
   */
  async leaf(service: string, request: LeafRequest = {}): Promise<ServiceLeaf> {
    const sniNames = workloadSniNames({
      service,
      datacenter: this.datacenter,
      trustDomain: this.root.trustDomain,
      exportedToPeers: request.exportedToPeers,
    });
    const key = sniNames.join(' ');
    const cached = this.leaves.get(service);
    if (cached !== undefined && cached.sniNames.join(' ') === key && this.leafRenewalAt(cached) > new Date())
      return cached;
    const pending = this.issuing.get(service);
    if (pending !== undefined && pending.key === key) return pending.leaf;
    const leaf = this.issueServiceLeaf(service, sniNames);
    const entry = { key, leaf };
    this.issuing.set(service, entry);
    try {
      return await leaf;
    } finally {
      if (this.issuing.get(service) === entry) this.issuing.delete(service);
    }
  }

  private async issueServiceLeaf(service: string, sniNames: string[]): Promise<ServiceLeaf> {
    const issued = await issueLeaf(this.root, { service, datacenter: this.datacenter, sniNames });
    this.lastLeafIndex = Math.max(Date.now(), this.lastLeafIndex + 1);
    const leaf = { ...issued, index: this.lastLeafIndex, sniNames };
    // Should an issuance for an older export set finish last, the next call sees other names and
    // issues again: the latest leaf always has the largest index.
    this.leaves.set(service, leaf);
    return leaf;
  }

  /** Roots in Consul's /v1/connect/ca/roots shape. */
  rootsView(): Record<string, unknown> {
    return {
      ActiveRootID: this.root.id,
      TrustDomain: this.root.trustDomain,
      Roots: [
        {
          ID: this.root.id,
          Name: `meshpeer CA root (${this.datacenter})`,
          RootCert: this.root.certPem,
          Active: true,
          NotBefore: this.root.notBefore,
          NotAfter: this.root.notAfter,
        },
      ],
    };
  }

  /** The index of the CA table, for blocking reads. */
  index(): number {
    return this.store.maxIndex([CA_TABLE]);
  }
}
