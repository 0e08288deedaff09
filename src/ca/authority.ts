// The cluster's certificate authority as the server runs it: the root and the gRPC server certificate
// are created at first start and kept in the store, so a restart presents the same identity; leaves
// for sidecars and gateways are issued on demand and cached until they near renewal.
import type { Store } from '../store/store.js';
import { type IssuedCert, issueLeaf, issueServerCert, renewAt } from './leaf.js';
import { createRootCa, type RootCa } from './root.js';
import { newTrustDomain, peeringServerName, trustDomainOfClusterId } from './trust-domain.js';

export const CA_TABLE = 'ca';
const ROOT_KEY = 'root';
const SERVER_CERT_KEY = 'server-cert';

export class CertificateAuthority {
  private readonly leaves = new Map<string, IssuedCert>();

  private constructor(
    private readonly store: Store,
    readonly root: RootCa,
    readonly serverCert: IssuedCert,
    readonly datacenter: string,
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
    let serverCert = store.get<IssuedCert>(CA_TABLE, SERVER_CERT_KEY)?.value;
    if (
      serverCert === undefined ||
      serverCert.rootId !== root.id ||
      renewAt(serverCert, () => 1) <= new Date()
    ) {
      serverCert = await issueServerCert(root, {
        datacenter,
        dnsNames: extraServerNames,
        ttlHours: 24 * 365,
      });
      const issued = serverCert;
      await store.write((tx) => tx.put(CA_TABLE, SERVER_CERT_KEY, issued));
    }
    return new CertificateAuthority(store, root, serverCert, datacenter);
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

  /** A leaf for a service, reused until it is due for renewal. */
  async leaf(service: string): Promise<IssuedCert> {
    const cached = this.leaves.get(service);
    if (cached !== undefined && this.leafRenewalAt(cached) > new Date()) return cached;
    const issued = await issueLeaf(this.root, { service, datacenter: this.datacenter });
    this.leaves.set(service, issued);
    return issued;
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
