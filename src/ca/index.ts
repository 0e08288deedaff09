// The CA domain: roots, leaves, SPIFFE identities and trust bundles. Pure functions over PEM strings;
// persistence and transport belong to the server and peering modules.
export { type CertInfo, type CertInput, certInfo, spiffeIdOf } from './inspect.js';
export {
  type IssuedCert,
  issueLeaf,
  issueServerCert,
  type LeafOptions,
  renewAt,
  type ServerCertOptions,
} from './leaf.js';
export { ownerOfTrustDomain, type TrustDomainOwner } from './peer-identity.js';
export { type CreateRootOptions, createRootCa, type RootCa } from './root.js';
export {
  parseServiceSpiffeId,
  parseSpiffeId,
  type ServerIdentity,
  type ServiceIdentity,
  type SpiffeIdentity,
  serverSpiffeId,
  serviceSpiffeId,
  trustDomainSpiffeId,
} from './spiffe.js';
export {
  parseTrustBundle,
  type TrustBundle,
  trustBundleSchema,
  type VerifiedIdentity,
  verifyChain,
  verifyIdentity,
} from './trust-bundle.js';
export {
  assertDatacenter,
  assertTrustDomain,
  newTrustDomain,
  peeringServerName,
  trustDomainOfClusterId,
} from './trust-domain.js';
export { sniNameProblem, type WorkloadSniInput, workloadSniNames } from './workload-sni-names.js';
