// Two peered clusters on loopback for tests and benchmarks: cluster-01 runs an echo "backend" behind
// a sidecar and exports it to cluster-02; cluster-02 runs a "frontend" sidecar with a peered upstream.
// Each cluster has its own CA and trust domain and its own mesh gateway. Configuration comes from
// StaticConfigSources the caller can change while traffic flows.
import { createRootCa, issueLeaf, newTrustDomain, type RootCa, type TrustBundle } from '../../ca/index.js';
import type { ExportedServicesEntry, MeshGatewayMode } from '../../config-entries/index.js';
import { StaticConfigSource } from '../config-source.js';
import type { Endpoint } from '../endpoint.js';
import { type GatewayConfig, MeshGateway } from '../gateway/index.js';
import { type ProxyConfig, type ProxyLeaf, Sidecar } from '../proxy/index.js';
import { peeredServiceSni } from '../sni.js';
import { type EchoServer, startEchoServer } from './traffic.js';

export interface TestCluster {
  peerName: string;
  datacenter: string;
  root: RootCa;
  bundle: TrustBundle;
}

export interface TwoClusters {
  /** The exporter (cluster-01) and the importer (cluster-02), each named as the other knows it. */
  exporter: TestCluster;
  importer: TestCluster;
  echo: EchoServer;
  backend: Sidecar;
  frontend: Sidecar;
  exporterGateway: MeshGateway;
  importerGateway: MeshGateway;
  sources: {
    backend: StaticConfigSource<ProxyConfig>;
    frontend: StaticConfigSource<ProxyConfig>;
    exporterGateway: StaticConfigSource<GatewayConfig>;
    importerGateway: StaticConfigSource<GatewayConfig>;
  };
  /** Where the frontend app connects to reach the peer's backend. */
  upstream: Endpoint;
  /** The SNI name cluster-01 gives backend for cluster-02. */
  backendSni: string;
  /** Issues a fresh leaf for a service of a cluster. */
  leaf(cluster: TestCluster, service: string, ttlHours?: number): Promise<ProxyLeaf>;
  close(): Promise<void>;
}

export interface TwoClustersOptions {
  meshGatewayMode?: MeshGatewayMode;
  exportedServices?: ExportedServicesEntry;
}

const LOOPBACK: Endpoint = { host: '127.0.0.1', port: 0 };

export async function testCluster(
  peerName: string,
  clusterName: string,
  datacenter: string,
): Promise<TestCluster> {
  const root = await createRootCa({ clusterName, trustDomain: newTrustDomain() });
  return {
    peerName,
    datacenter,
    root,
    bundle: { peerName, trustDomain: root.trustDomain, rootPems: [root.certPem] },
  };
}

export async function leafFor(cluster: TestCluster, service: string, ttlHours = 72): Promise<ProxyLeaf> {
  const issued = await issueLeaf(cluster.root, { service, datacenter: cluster.datacenter, ttlHours });
  return {
    certPem: issued.certPem,
    keyPem: issued.keyPem,
    serialNumber: issued.serialNumber,
    validAfter: issued.validAfter,
    validBefore: issued.validBefore,
  };
}

export function exportsTo(service: string, peer: string): ExportedServicesEntry {
  return {
    Kind: 'exported-services',
    Name: 'default',
    Services: [{ Name: service, Consumers: [{ Peer: peer }] }],
  };
}

export async function startTwoClusters(options: TwoClustersOptions = {}): Promise<TwoClusters> {
  // Each is named as the other cluster knows it: cluster-01 calls its peer "cluster-02" and vice versa.
  const exporter = await testCluster('cluster-01', 'cluster-01', 'dc1');
  const importer = await testCluster('cluster-02', 'cluster-02', 'dc2');
  const echo = await startEchoServer();
  const stoppers: (() => Promise<void>)[] = [() => echo.close()];
  const close = async (): Promise<void> => {
    for (const stop of stoppers.reverse()) await stop();
  };
  try {
    const backendSource = new StaticConfigSource<ProxyConfig>({
      ...baseProxyConfig(exporter, 'backend', await leafFor(exporter, 'backend')),
      peerBundles: [importer.bundle],
      // backend is exported to the importer, so the importer's workloads may call it.
      inboundPeerBundles: [importer.bundle],
    });
    const backend = new Sidecar({ config: backendSource, inbound: { listen: LOOPBACK, app: echo.address } });
    const backendAddress = (await backend.start()).inbound as Endpoint;
    stoppers.push(() => backend.stop());

    const exporterGatewaySource = new StaticConfigSource<GatewayConfig>({
      ...baseGatewayConfig(exporter),
      exportedServices: options.exportedServices ?? exportsTo('backend', importer.peerName),
      localServices: new Map([['backend', [backendAddress]]]),
    });
    const exporterGateway = new MeshGateway({ config: exporterGatewaySource, listen: LOOPBACK });
    const exporterGatewayAddress = await exporterGateway.start();
    stoppers.push(() => exporterGateway.stop());

    const importerGatewaySource = new StaticConfigSource<GatewayConfig>({
      ...importerGatewayConfig(importer, exporter, [exporterGatewayAddress]),
    });
    const importerGateway = new MeshGateway({ config: importerGatewaySource, listen: LOOPBACK });
    const importerGatewayAddress = await importerGateway.start();
    stoppers.push(() => importerGateway.stop());

    const backendSni = peeredServiceSni({
      service: 'backend',
      peer: importer.peerName,
      trustDomain: exporter.root.trustDomain,
    });
    const frontendSource = new StaticConfigSource<ProxyConfig>({
      ...baseProxyConfig(importer, 'frontend', await leafFor(importer, 'frontend')),
      peerBundles: [exporter.bundle],
      upstreams: [
        { name: 'backend', peer: exporter.peerName, instances: [exporterGatewayAddress], sni: backendSni },
      ],
      localGateways: [importerGatewayAddress],
      meshGatewayMode: options.meshGatewayMode ?? '',
    });
    const frontend = new Sidecar({
      config: frontendSource,
      upstreams: [{ name: 'backend', peer: exporter.peerName, bind: LOOPBACK }],
    });
    await frontend.start();
    stoppers.push(() => frontend.stop());

    return {
      exporter,
      importer,
      echo,
      backend,
      frontend,
      exporterGateway,
      importerGateway,
      sources: {
        backend: backendSource,
        frontend: frontendSource,
        exporterGateway: exporterGatewaySource,
        importerGateway: importerGatewaySource,
      },
      upstream: frontend.upstreamAddress('backend', exporter.peerName),
      backendSni,
      leaf: leafFor,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

export function baseProxyConfig(cluster: TestCluster, service: string, leaf: ProxyLeaf): ProxyConfig {
  return {
    service,
    datacenter: cluster.datacenter,
    trustDomain: cluster.root.trustDomain,
    leaf,
    roots: [cluster.root.certPem],
    peerBundles: [],
    inboundPeerBundles: [],
    intentions: [],
    defaultIntentionAction: 'allow',
    upstreams: [],
    localGateways: [],
    meshGatewayMode: '',
    proxyConfig: {},
  };
}

export function baseGatewayConfig(cluster: TestCluster): GatewayConfig {
  return {
    trustDomain: cluster.root.trustDomain,
    datacenter: cluster.datacenter,
    exportedServices: undefined,
    localServices: new Map(),
    peers: [],
    peerThroughMeshGateways: false,
    localServers: [],
    proxyConfig: {},
  };
}

/** The importing cluster's gateway configuration: the exporter is a peer reached through `exporterGateways`. */
export function importerGatewayConfig(
  importer: TestCluster,
  exporter: TestCluster,
  exporterGateways: Endpoint[],
): GatewayConfig {
  return {
    ...baseGatewayConfig(importer),
    peers: [
      {
        name: exporter.peerName,
        trustDomain: exporter.root.trustDomain,
        gateways: exporterGateways,
        servers: [],
      },
    ],
  };
}
